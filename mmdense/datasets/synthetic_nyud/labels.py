"""Label ids of the synthetic NYUD-v2 renderer: the on-disk NYU-40 values of the dataset."""
from mmdense.datasets.nyud_multitask import NYUD_CLASSES

#: On-disk NYU-40 id of a class name: its index in ``NYUD_CLASSES`` + 1 (0 is unlabeled).
CLS = {name: i + 1 for i, name in enumerate(NYUD_CLASSES)}
UNLABELED = 0
