"""A small synthetic dataset in the NYUD-v2 multi-task layout, rendered by ray casting.

The layout is the one of the NYUD-v2 release used by ASTMT, MTI-Net, ATRC, InvPT and DeMT::

    OUT_DIR/
        images/NAME.png          RGB uint8
        segmentation/NAME.png    uint8, 0 = unlabeled, 1..40 = NYU-40 class id
        depth/NAME.npy           float32 (H, W) metres along the optical axis, 0 = invalid
        normals/NAME.png         RGB uint8, round((n + 1) / 2 * 255), valid everywhere
        edge/NAME.png            uint8, 255 on boundaries, 0 elsewhere
        gt_sets/train.txt        NAMEs (no extension), one a line
        gt_sets/val.txt
        meta.json                intrinsics, conventions and class names (not read by loaders)

Each image is a ray-cast indoor room: floor, ceiling and walls of an axis-aligned room, furniture
built from (possibly rotated) boxes, and pictures, windows, doors, mirrors... on the walls. The
camera is a pinhole (``fx = fy = 518.86 * W / 640``, principal point at the image centre) placed
inside the room, looking slightly down. All maps are computed from the same ray hits, so they are
geometrically consistent:

* depth is the z-depth (hit distance along the optical axis), as NYUD depth;
* normals are unit vectors in the camera frame with **x to the right, y up and z towards the
  viewer** (out of the image); the floor has ``n ~ (0, 1, 0)`` when the camera is level and a
  wall facing the camera ``n ~ (0, 0, 1)``;
* boundaries mark the nearer pixel of every 4-neighbour pair lying on different surfaces whose
  semantic label, depth (relative jump > 3%) or normal (> 20 degrees) differ, so they are one pixel
  thick along each contour;
* depth is invalid (0) on windows, mirrors and television screens, which Kinect sensors do not
  see, and in thin random bands beside occluding contours (the sensor's shadow). Normals stay
  valid everywhere, as in the NYUD-v2 release, whose 8-bit PNGs cannot encode the zero vector.

Images are shaded with an ambient term, a directional light and a point light with cast shadows;
albedo comes from per-class colours jittered per instance and procedural textures (wood, tiles,
fabric, books, pictures...), then exposure, colour cast, blur and noise are applied.

Rendering is deterministic: image ``i`` depends only on ``(seed, i)``, so a smaller dataset is a
prefix of a larger one with the same seed.

Class names and ids are the dataset's (:data:`~mmdense.datasets.NYUD_CLASSES`). Modules:
``labels`` (NYU-40 ids), ``materials`` (texture kinds, palettes, shading), ``furniture``
(object templates), ``scene`` (room, furniture and camera sampling), ``raycast``, ``render``
(one sample) and ``writer`` (the dataset on disk).

Command line::

    python tools/misc/make_synthetic_nyud.py data/synthetic_nyud --num-train 200 --num-val 50
"""
from .render import boundaries, intrinsics, render_sample
from .scene import Scene, build_scene
from .writer import DEFAULT_SIZE, encode_normals, sample_rng, write_dataset

__all__ = [
    'write_dataset', 'render_sample', 'build_scene', 'Scene', 'intrinsics', 'boundaries',
    'encode_normals', 'sample_rng', 'DEFAULT_SIZE'
]
