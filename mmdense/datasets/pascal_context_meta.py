"""Class metadata of the PASCAL-Context multi-task benchmark (the ASTMT / ATRC / DeMT setting).

Shipped with mmdense (not read from the data root) so that the dataset needs nothing beyond the
public release archive. Everything here is fixed by the benchmark definition:

* :data:`VOC_CLASSES`: the 21 semantic classes of ``semseg/pascal-context/*.png``;
* :data:`HUMAN_PART_GROUPS`: how the 24 PASCAL-Part person parts are merged into 1, 4, 6
  (the benchmark default) or 14 groups;
* :data:`NORMALS_VALID_CLASSES`: the PASCAL-Context (459-class ``LabelMap``) classes on which
  the distilled surface normals are kept.
"""

VOC_CLASSES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
               'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
               'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')

#: VOC class index of "person" in the PASCAL-Part ``class_ind`` field.
PERSON_CLASS_IND = 15

_HEAD = ('hair', 'head', 'lear', 'lebrow', 'leye', 'mouth', 'nose', 'rear', 'rebrow', 'reye')
_TORSO = ('neck', 'torso')

#: ``num_human_parts -> ((group name, PASCAL-Part part names), ...)``; group ``i`` gets id
#: ``i + 1`` and 0 is the background.
HUMAN_PART_GROUPS: dict[int, tuple[tuple[str, tuple[str, ...]], ...]] = {
    1: (('person', _HEAD + _TORSO + ('lhand', 'llarm', 'luarm', 'rhand', 'rlarm', 'ruarm',
                                      'lfoot', 'llleg', 'luleg', 'rfoot', 'rlleg', 'ruleg')),),
    4: (('head', _HEAD), ('torso', _TORSO),
        ('arms', ('lhand', 'llarm', 'luarm', 'rhand', 'rlarm', 'ruarm')),
        ('legs', ('lfoot', 'llleg', 'luleg', 'rfoot', 'rlleg', 'ruleg'))),
    6: (('head', _HEAD), ('torso', _TORSO), ('upper arms', ('luarm', 'ruarm')),
        ('lower arms', ('lhand', 'llarm', 'rhand', 'rlarm')), ('upper legs', ('luleg', 'ruleg')),
        ('lower legs', ('lfoot', 'llleg', 'rfoot', 'rlleg'))),
    14: (('head', _HEAD), ('torso', _TORSO), ('right upper arm', ('ruarm',)),
         ('right lower arm', ('rlarm',)), ('right hand', ('rhand',)),
         ('left upper arm', ('luarm',)), ('left lower arm', ('llarm',)),
         ('left hand', ('lhand',)), ('right upper leg', ('ruleg',)),
         ('right lower leg', ('rlleg',)), ('right foot', ('rfoot',)),
         ('left upper leg', ('luleg',)), ('left lower leg', ('llleg',)),
         ('left foot', ('lfoot',))),
}


def human_part_ids(num_human_parts: int) -> dict[str, int]:
    """PASCAL-Part person part name -> merged id (1..num_human_parts)."""
    if num_human_parts not in HUMAN_PART_GROUPS:
        raise ValueError(f'num_human_parts must be one of {sorted(HUMAN_PART_GROUPS)}, got '
                         f'{num_human_parts}')
    return {part: group_id + 1
            for group_id, (_, parts) in enumerate(HUMAN_PART_GROUPS[num_human_parts])
            for part in parts}


def human_part_classes(num_human_parts: int) -> tuple[str, ...]:
    """Class names of the merged human-part labels, background first."""
    human_part_ids(num_human_parts)  # validates the argument
    return ('background', ) + tuple(name for name, _ in HUMAN_PART_GROUPS[num_human_parts])


#: PASCAL-Context class name -> 1-based id in the 459-class ``LabelMap``, for the classes whose
#: distilled normals are kept. Derivation (as in the official ASTMT/ATRC/DeMT loader): every
#: PASCAL-Context class whose name is also a NYUD-v2 class name (894-class NYU list), except
#: "unknown", plus "tvmonitor" (NYU calls it "television"/"monitor"). 170 classes.
NORMALS_VALID_CLASSES: dict[str, int] = {
    'air conditioner': 3, 'antenna': 4, 'ashtray': 6, 'bag': 9, 'ball': 10, 'balloon': 11,
    'barrel': 13, 'basket': 15, 'bathtub': 17, 'bed': 18, 'bench': 22, 'bicycle': 23,
    'blackboard': 29, 'board': 30, 'book': 33, 'bottle': 34, 'bowl': 36, 'box': 37,
    'bracelet': 38, 'brick': 39, 'broom': 41, 'bucket': 43, 'cabinet': 46, 'cake': 49,
    'calculator': 50, 'calendar': 51, 'camera': 53, 'can': 55, 'candle': 56, 'car': 59,
    'cart': 61, 'case': 62, 'cat': 65, 'cd': 66, 'ceiling': 68, 'cell phone': 69, 'chair': 72,
    'chessboard': 73, 'clock': 78, 'coffee machine': 83, 'comb': 84, 'computer': 85, 'cone': 87,
    'container': 88, 'corkscrew': 95, 'counter': 96, 'crate': 101, 'cup': 104, 'curtain': 105,
    'cutting board': 107, 'dishwasher': 111, 'dog': 113, 'door': 115, 'drum': 122, 'duck': 124,
    'envelope': 135, 'fan': 141, 'faucet': 142, 'fax machine': 143, 'fire extinguisher': 146,
    'fish tank': 150, 'flag': 154, 'flashlight': 157, 'floor': 158, 'flower': 159, 'fork': 165,
    'fruit': 172, 'furnace': 174, 'glass': 181, 'globe': 183, 'glove': 184, 'guitar': 191,
    'hammer': 193, 'handle': 195, 'hanger': 197, 'hat': 199, 'heater': 202, 'ipod': 213,
    'ironing board': 215, 'jar': 216, 'key': 219, 'keyboard': 220, 'knife': 223, 'ladder': 225,
    'laptop': 228, 'lid': 230, 'light': 232, 'light bulb': 233, 'lock': 238, 'machine': 239,
    'map': 242, 'mask': 243, 'mattress': 246, 'microphone': 250, 'microwave': 251, 'mirror': 252,
    'money': 255, 'mouse': 260, 'mouse pad': 261, 'napkin': 263, 'oven': 269, 'pan': 272,
    'paper': 273, 'paper cutter': 275, 'pen': 281, 'pencil': 283, 'person': 284, 'photo': 285,
    'piano': 286, 'picture': 287, 'pig': 288, 'pillow': 290, 'pipe': 291, 'pitcher': 292,
    'plant': 293, 'plate': 295, 'pool table': 304, 'pot': 307, 'printer': 309, 'projector': 310,
    'radiator': 314, 'radio': 315, 'range hood': 319, 'remote control': 323, 'rope': 329,
    'rug': 330, 'ruler': 331, 'scale': 336, 'sculpture': 342, 'sewing machine': 345,
    'shelves': 349, 'shoe': 350, 'shopping cart': 351, 'shovel': 352, 'sign': 355, 'sink': 357,
    'sofa': 368, 'spatula': 370, 'speaker': 371, 'spoon': 374, 'stapler': 379, 'stick': 380,
    'stool': 383, 'stove': 384, 'table': 397, 'tape': 401, 'telephone': 403, 'tent': 405,
    'toaster': 407, 'toilet': 408, 'toothbrush': 411, 'towel': 412, 'toy': 413, 'toy car': 414,
    'trampoline': 417, 'tray': 419, 'tricycle': 421, 'trophy': 423, 'typewriter': 429,
    'umbrella': 430, 'vacuum cleaner': 432, 'wall': 440, 'wallet': 441, 'wardrobe': 442,
    'washing machine': 443, 'watch': 444, 'water dispenser': 446, 'window': 454, 'wire': 457,
    'tvmonitor': 427,
}
