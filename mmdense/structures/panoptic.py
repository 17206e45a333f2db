"""The encoding of panoptic maps shared by the kMaX-DeepLab head, the PQ metric and the
panoptic visualizer.

A predicted panoptic map holds ``label + instance_id * INSTANCE_OFFSET`` per pixel, with
``num_classes`` (no instance) on void pixels. This is mmdet's convention
(``mmdet/evaluation/functional/panoptic_utils.py`` defines the same ``INSTANCE_OFFSET = 1000``
and the mmdet models and metrics import it from there), so maps can be read by either tool.
"""

#: Multiplier of the instance id in a panoptic map: ``label = value % INSTANCE_OFFSET``,
#: ``instance_id = value // INSTANCE_OFFSET``. Allows up to 1000 classes.
INSTANCE_OFFSET = 1000
