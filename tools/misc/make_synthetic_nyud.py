"""Render a small synthetic dataset in the NYUD-v2 multi-task layout.

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

Example::

    python tools/misc/make_synthetic_nyud.py data/synthetic_nyud --num-train 200 --num-val 50
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
from collections.abc import Sequence

import numpy as np
from PIL import Image

NYU40_CLASSES = (
    'wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window', 'bookshelf',
    'picture', 'counter', 'blinds', 'desk', 'shelves', 'curtain', 'dresser', 'pillow', 'mirror',
    'floor mat', 'clothes', 'ceiling', 'books', 'refridgerator', 'television', 'paper', 'towel',
    'shower curtain', 'box', 'whiteboard', 'person', 'night stand', 'toilet', 'sink', 'lamp',
    'bathtub', 'bag', 'otherstructure', 'otherfurniture', 'otherprop')
# NYU-40 id of a class name: index + 1 (0 is unlabeled).
CLS = {name: i + 1 for i, name in enumerate(NYU40_CLASSES)}
UNLABELED = 0

NYU_FX_AT_640 = 518.8579
DEFAULT_SIZE = (96, 128)

# Texture kinds (albedo = mix of colour a and colour b by a procedural weight).
PLAIN, WOOD, TILES, FABRIC, STRIPES, PICTURE, BOOKS, DRAWERS = range(8)
# Emissive kinds are not lit: windows show the sky, mirrors a blurred grey, screens are dark.
WINDOW, MIRROR, SCREEN = 8, 9, 10
NO_DEPTH_KINDS = (WINDOW, MIRROR, SCREEN)

# Boundary criteria.
EDGE_DEPTH_REL = 0.03
EDGE_NORMAL_COS = float(np.cos(np.deg2rad(20.0)))


# ------------------------------------------------------------------------------------------
# Scene description
# ------------------------------------------------------------------------------------------
class Scene:
    """A room and the boxes inside it; every box is one surface-labelled part."""

    def __init__(self, rng: np.random.Generator, dims: np.ndarray) -> None:
        self.rng = rng
        self.dims = dims  # room size (x, y, z) in metres; y is up, floor at y = 0
        self.centers: list[np.ndarray] = []
        self.halves: list[np.ndarray] = []
        self.yaws: list[float] = []
        self.labels: list[int] = []
        self.kinds: list[int] = []
        self.color_a: list[np.ndarray] = []
        self.color_b: list[np.ndarray] = []
        self.params: list[np.ndarray] = []  # (freq, phase, scale, seed) of the texture
        self.footprints: list[tuple[float, float, float]] = []  # (x, z, radius) on the floor

    def add_part(self, center, half, yaw, label, kind, color_a, color_b=None) -> None:
        rng = self.rng
        color_a = np.clip(np.asarray(color_a, np.float64), 0, 1)
        if color_b is None:
            color_b = color_a * rng.uniform(0.55, 0.8)
        self.centers.append(np.asarray(center, np.float64))
        self.halves.append(np.maximum(np.asarray(half, np.float64), 1e-3))
        self.yaws.append(float(yaw))
        self.labels.append(int(label))
        self.kinds.append(int(kind))
        self.color_a.append(color_a)
        self.color_b.append(np.clip(np.asarray(color_b, np.float64), 0, 1))
        self.params.append(np.array([rng.uniform(8, 30), rng.uniform(0, 2 * np.pi),
                                     rng.uniform(0.15, 0.45), rng.uniform(0, 100)]))

    def add_object(self, pos, yaw, parts) -> None:
        """Add parts given in the object frame (x right, y up, z front) at ``pos`` on the floor.

        Args:
            pos: (x, z) floor position of the object origin.
            yaw: rotation about the vertical axis.
            parts: tuples ``(center_local, half, label, kind, color_a[, color_b])``.
        """
        c, s = np.cos(yaw), np.sin(yaw)
        for part in parts:
            center, half = np.asarray(part[0], np.float64), part[1]
            world = np.array([pos[0] + c * center[0] + s * center[2], center[1],
                              pos[1] - s * center[0] + c * center[2]])
            self.add_part(world, half, yaw, *part[2:])

    def free(self, x: float, z: float, radius: float, margin: float = 0.05) -> bool:
        if not (radius * 0.5 < x < self.dims[0] - radius * 0.5
                and radius * 0.5 < z < self.dims[2] - radius * 0.5):
            return False
        return all((x - fx) ** 2 + (z - fz) ** 2 > (radius + fr + margin) ** 2
                   for fx, fz, fr in self.footprints)

    def as_arrays(self) -> dict[str, np.ndarray]:
        if not self.centers:
            return dict(centers=np.zeros((0, 3)), halves=np.zeros((0, 3)), yaws=np.zeros(0),
                        labels=np.zeros(0, int), kinds=np.zeros(0, int),
                        color_a=np.zeros((0, 3)), color_b=np.zeros((0, 3)),
                        params=np.zeros((0, 4)))
        return dict(centers=np.stack(self.centers), halves=np.stack(self.halves),
                    yaws=np.array(self.yaws), labels=np.array(self.labels),
                    kinds=np.array(self.kinds), color_a=np.stack(self.color_a),
                    color_b=np.stack(self.color_b), params=np.stack(self.params))


def _jitter(rng, color, amount=0.08):
    return np.clip(np.asarray(color) + rng.normal(0, amount, 3), 0.02, 0.98)


WOODS = ((0.55, 0.36, 0.2), (0.7, 0.52, 0.32), (0.38, 0.24, 0.14), (0.8, 0.68, 0.5))
PAINTS = ((0.86, 0.83, 0.76), (0.9, 0.9, 0.88), (0.72, 0.8, 0.86), (0.78, 0.84, 0.72),
          (0.88, 0.78, 0.68), (0.7, 0.7, 0.74))
FABRICS = ((0.6, 0.2, 0.2), (0.25, 0.35, 0.6), (0.35, 0.5, 0.35), (0.75, 0.7, 0.6),
           (0.45, 0.45, 0.5), (0.8, 0.55, 0.3), (0.55, 0.4, 0.6))


def _wood(rng):
    return _jitter(rng, WOODS[rng.integers(len(WOODS))], 0.05)


def _fabric(rng):
    return _jitter(rng, FABRICS[rng.integers(len(FABRICS))], 0.06)


# Furniture templates: each returns (parts, footprint radius, height) in the object frame, with
# the back of the object at z = -depth/2 (so it can stand against a wall).
def _table(rng, label=CLS['table']):
    w, d, h = rng.uniform(0.8, 1.6), rng.uniform(0.6, 1.0), rng.uniform(0.7, 0.78)
    col = _wood(rng)
    leg = 0.03
    parts = [((0, h - 0.02, 0), (w / 2, 0.02, d / 2), label, WOOD, col)]
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(((sx * (w / 2 - 0.06), (h - 0.04) / 2, sz * (d / 2 - 0.06)),
                          (leg, (h - 0.04) / 2, leg), label, PLAIN, col * 0.8))
    return parts, 0.5 * np.hypot(w, d), h


def _desk(rng):
    w, d, h = rng.uniform(1.0, 1.6), rng.uniform(0.55, 0.75), rng.uniform(0.72, 0.78)
    col = _jitter(rng, (0.85, 0.85, 0.82) if rng.random() < 0.5 else WOODS[0], 0.05)
    label = CLS['desk']
    parts = [((0, h - 0.02, 0), (w / 2, 0.02, d / 2), label, WOOD, col),
             ((-w / 2 + 0.02, (h - 0.04) / 2, 0), (0.02, (h - 0.04) / 2, d / 2 - 0.02), label,
              PLAIN, col * 0.9),
             ((w / 2 - 0.22, (h - 0.04) / 2, 0), (0.2, (h - 0.04) / 2, d / 2 - 0.02), label,
              DRAWERS, col * 0.9)]
    return parts, 0.5 * np.hypot(w, d), h


def _chair(rng):
    s, hs = rng.uniform(0.4, 0.5), rng.uniform(0.42, 0.48)
    col = _fabric(rng) if rng.random() < 0.5 else _wood(rng)
    label = CLS['chair']
    parts = [((0, hs, 0), (s / 2, 0.03, s / 2), label, FABRIC, col),
             ((0, hs + 0.25, -s / 2 + 0.03), (s / 2, 0.22, 0.03), label, FABRIC, col)]
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(((sx * (s / 2 - 0.03), (hs - 0.03) / 2, sz * (s / 2 - 0.03)),
                          (0.018, (hs - 0.03) / 2, 0.018), label, PLAIN, col * 0.6))
    return parts, 0.75 * s, hs + 0.47


def _sofa(rng):
    w, d = rng.uniform(1.5, 2.2), rng.uniform(0.8, 0.95)
    col = _fabric(rng)
    label = CLS['sofa']
    parts = [((0, 0.22, 0.05), (w / 2 - 0.18, 0.22, d / 2 - 0.05), label, FABRIC, col),
             ((0, 0.42, -d / 2 + 0.1), (w / 2, 0.42, 0.1), label, FABRIC, col * 0.92),
             ((-w / 2 + 0.09, 0.3, 0.05), (0.09, 0.3, d / 2 - 0.05), label, FABRIC, col * 0.95),
             ((w / 2 - 0.09, 0.3, 0.05), (0.09, 0.3, d / 2 - 0.05), label, FABRIC, col * 0.95)]
    if rng.random() < 0.6:
        parts.append(((-w / 4, 0.58, -d / 2 + 0.3), (0.22, 0.15, 0.08), CLS['pillow'], FABRIC,
                      _fabric(rng)))
    return parts, 0.5 * np.hypot(w, d), 0.84


def _bed(rng):
    w, length = rng.uniform(1.2, 1.9), rng.uniform(1.9, 2.1)
    h = rng.uniform(0.45, 0.6)
    label = CLS['bed']
    sheet = _jitter(rng, FABRICS[rng.integers(len(FABRICS))], 0.1)
    parts = [((0, h / 2, 0), (w / 2, h / 2, length / 2), label, FABRIC, sheet),
             ((0, (h + 0.6) / 2, -length / 2 - 0.04), (w / 2 + 0.03, (h + 0.6) / 2, 0.04), label,
              WOOD, _wood(rng))]
    pillow = _jitter(rng, (0.9, 0.9, 0.88), 0.05)
    n_pillows = 2 if w > 1.35 else 1
    for k in range(n_pillows):
        x = 0 if n_pillows == 1 else (k - 0.5) * w / 2
        parts.append(((x, h + 0.07, -length / 2 + 0.3), (0.28, 0.07, 0.18), CLS['pillow'],
                      FABRIC, pillow))
    if rng.random() < 0.4:
        parts.append(((0, h + 0.05, length / 4), (w / 3, 0.04, 0.25), CLS['clothes'], FABRIC,
                      _fabric(rng)))
    return parts, 0.5 * np.hypot(w, length), h + 0.6


def _tall_box(rng, label, size_range, kind, color):
    w = rng.uniform(*size_range[0])
    d = rng.uniform(*size_range[1])
    h = rng.uniform(*size_range[2])
    parts = [((0, h / 2, 0), (w / 2, h / 2, d / 2), label, kind, color)]
    return parts, 0.5 * np.hypot(w, d), h


def _cabinet(rng):
    return _tall_box(rng, CLS['cabinet'], ((0.5, 1.2), (0.4, 0.6), (0.8, 2.0)), DRAWERS,
                     _wood(rng) if rng.random() < 0.6 else _jitter(rng, (0.9, 0.9, 0.88), 0.03))


def _dresser(rng):
    parts, r, h = _tall_box(rng, CLS['dresser'], ((0.8, 1.4), (0.45, 0.55), (0.75, 1.0)),
                            DRAWERS, _wood(rng))
    if rng.random() < 0.4:
        parts.append(((0, h + 0.3, 0), (0.45, 0.28, 0.03), CLS['television'], SCREEN,
                      (0.05, 0.05, 0.06)))
    elif rng.random() < 0.5:
        parts.append(((0.1, h + 0.05, 0.05), (0.15, 0.05, 0.1), CLS['otherprop'], PLAIN,
                      rng.uniform(0.1, 0.9, 3)))
    return parts, r, h


def _night_stand(rng):
    parts, radius, h = _tall_box(rng, CLS['night stand'], ((0.4, 0.55), (0.35, 0.45),
                                                           (0.5, 0.65)), DRAWERS, _wood(rng))
    if rng.random() < 0.6:
        shade_col = _jitter(rng, (0.95, 0.9, 0.75), 0.05)
        parts += [((0, h + 0.15, 0), (0.015, 0.15, 0.015), CLS['lamp'], PLAIN, (0.3, 0.3, 0.3)),
                  ((0, h + 0.36, 0), (0.13, 0.1, 0.13), CLS['lamp'], PLAIN, shade_col)]
        h += 0.46
    return parts, radius, h


def _bookshelf(rng):
    w, d, h = rng.uniform(0.6, 1.2), rng.uniform(0.3, 0.4), rng.uniform(1.4, 2.0)
    col = _wood(rng)
    parts = [((0, h / 2, -0.01), (w / 2, h / 2, d / 2 - 0.01), CLS['bookshelf'], WOOD, col),
             ((0, h / 2, d / 2 - 0.01), (w / 2 - 0.04, h / 2 - 0.06, 0.012), CLS['books'], BOOKS,
              col)]
    return parts, 0.5 * np.hypot(w, d), h


def _refrigerator(rng):
    return _tall_box(rng, CLS['refridgerator'], ((0.6, 0.8), (0.6, 0.7), (1.6, 1.9)), PLAIN,
                     _jitter(rng, (0.85, 0.86, 0.88), 0.04))


def _counter(rng):
    w, d, h = rng.uniform(1.2, 2.4), 0.6, rng.uniform(0.86, 0.92)
    body = _wood(rng) if rng.random() < 0.5 else _jitter(rng, (0.9, 0.9, 0.88), 0.03)
    parts = [((0, (h - 0.04) / 2, -0.02), (w / 2, (h - 0.04) / 2, d / 2 - 0.02), CLS['cabinet'],
              DRAWERS, body),
             ((0, h - 0.02, 0), (w / 2 + 0.01, 0.02, d / 2), CLS['counter'], TILES,
              _jitter(rng, (0.4, 0.4, 0.42), 0.08))]
    if rng.random() < 0.7:
        parts.append(((rng.uniform(-w / 4, w / 4), h + 0.03, 0), (0.25, 0.03, 0.2), CLS['sink'],
                      PLAIN, _jitter(rng, (0.8, 0.82, 0.85), 0.03)))
    return parts, 0.5 * np.hypot(w, d), h + 0.06


def _toilet(rng):
    col = _jitter(rng, (0.93, 0.93, 0.92), 0.02)
    label = CLS['toilet']
    parts = [((0, 0.2, 0.05), (0.18, 0.2, 0.26), label, PLAIN, col),
             ((0, 0.55, -0.2), (0.2, 0.17, 0.09), label, PLAIN, col)]
    return parts, 0.4, 0.72


def _bathtub(rng):
    w = rng.uniform(1.5, 1.7)
    return _tall_box(rng, CLS['bathtub'], ((w, w), (0.7, 0.8), (0.5, 0.6)), PLAIN,
                     _jitter(rng, (0.93, 0.93, 0.95), 0.02))


def _small_prop(rng):
    label = int(rng.choice([CLS['box'], CLS['bag'], CLS['otherprop'], CLS['otherfurniture'],
                            UNLABELED, UNLABELED]))
    col = (_jitter(rng, (0.62, 0.47, 0.3), 0.05) if label == CLS['box']
           else rng.uniform(0.1, 0.9, 3))
    kind = PLAIN if label == CLS['box'] else int(rng.choice([PLAIN, FABRIC, STRIPES]))
    return _tall_box(rng, label, ((0.2, 0.6), (0.2, 0.5), (0.15, 0.6)), kind, col)


TEMPLATES = dict(table=_table, desk=_desk, chair=_chair, sofa=_sofa, bed=_bed, cabinet=_cabinet,
                 dresser=_dresser, night_stand=_night_stand, bookshelf=_bookshelf,
                 refrigerator=_refrigerator, counter=_counter, toilet=_toilet,
                 bathtub=_bathtub, prop=_small_prop)

# Room types: (wall furniture, free-standing furniture, wall decorations).
ROOM_TYPES = {
    'bedroom': (('bed', 'night_stand', 'dresser', 'cabinet', 'bookshelf'), ('prop', 'chair'),
                ('picture', 'window', 'curtain', 'mirror', 'door')),
    'living_room': (('sofa', 'cabinet', 'bookshelf', 'dresser'), ('table', 'chair', 'prop'),
                    ('picture', 'window', 'blinds', 'door', 'television')),
    'office': (('desk', 'bookshelf', 'cabinet', 'desk'), ('table', 'chair', 'chair', 'prop'),
               ('whiteboard', 'window', 'blinds', 'picture', 'door')),
    'kitchen': (('counter', 'refrigerator', 'cabinet'), ('table', 'chair', 'chair', 'prop'),
                ('window', 'picture', 'door', 'blinds')),
    'bathroom': (('bathtub', 'toilet', 'counter'), ('prop',),
                 ('mirror', 'towel', 'shower curtain', 'door')),
}


def _wall_frame(scene: Scene, wall: int):
    """Origin, inward normal, along-wall direction (x, z) and length of wall ``wall``.

    Walls: 0 far (z = D), 1 left (x = 0), 2 right (x = W), 3 near (z = 0).
    """
    w, _, d = scene.dims
    if wall == 0:
        return np.array([w, d]), np.array([0.0, -1.0]), np.array([-1.0, 0.0]), w
    if wall == 1:
        return np.array([0.0, d]), np.array([1.0, 0.0]), np.array([0.0, -1.0]), d
    if wall == 2:
        return np.array([w, 0.0]), np.array([-1.0, 0.0]), np.array([0.0, 1.0]), d
    return np.array([0.0, 0.0]), np.array([0.0, 1.0]), np.array([1.0, 0.0]), w


def _yaw_facing(normal_xz) -> float:
    # Object frame z (front) = (sin yaw, cos yaw) in world (x, z).
    return float(np.arctan2(normal_xz[0], normal_xz[1]))


def _place(scene: Scene, template: str, against_wall: bool, cam_xz, tries: int = 25) -> bool:
    rng = scene.rng
    parts, radius, _ = TEMPLATES[template](rng)
    for _ in range(tries):
        if against_wall:
            wall = int(rng.choice([0, 0, 1, 2]))
            origin, normal, along, length = _wall_frame(scene, wall)
            depth = max(max(abs(p[0][2]) + p[1][2] for p in parts), 0.2)
            s = rng.uniform(radius, max(radius, length - radius))
            xz = origin + along * s + normal * (depth + 0.02)
            yaw = _yaw_facing(normal)
        else:
            # Free-standing furniture goes in front of the camera, where it is seen.
            xz = np.array([rng.uniform(0.3, scene.dims[0] - 0.3),
                           rng.uniform(min(cam_xz[1] + 1.0, scene.dims[2] - 0.5),
                                       scene.dims[2] - 0.3)])
            yaw = rng.uniform(-np.pi, np.pi)
        # Keep clear of the camera and of the wall behind it (out of view).
        if np.hypot(*(xz - cam_xz)) < radius + 0.7 or xz[1] < cam_xz[1] + 0.5:
            continue
        if scene.free(xz[0], xz[1], radius):
            scene.add_object(xz, yaw, parts)
            scene.footprints.append((xz[0], xz[1], radius))
            return True
    return False


def _add_wall_decoration(scene: Scene, kind: str, cam_z: float) -> None:
    rng = scene.rng
    wall = int(rng.choice([0, 0, 1, 2]))
    origin, normal, along, length = _wall_frame(scene, wall)
    height = scene.dims[1]
    specs = {
        # name: (width, height, bottom, label, texture kind, colour, thickness)
        'picture': (rng.uniform(0.3, 1.0), rng.uniform(0.3, 0.8), rng.uniform(1.1, 1.5),
                    CLS['picture'], PICTURE, rng.uniform(0.2, 0.9, 3), 0.02),
        'window': (rng.uniform(0.8, 1.6), rng.uniform(1.0, 1.3), rng.uniform(0.8, 1.0),
                   CLS['window'], WINDOW, _jitter(rng, (0.75, 0.85, 1.0), 0.05), 0.01),
        'door': (rng.uniform(0.8, 0.9), rng.uniform(2.0, 2.1), 0.0, CLS['door'], WOOD,
                 _wood(rng) if rng.random() < 0.6 else _jitter(rng, (0.9, 0.9, 0.88), 0.03),
                 0.03),
        'mirror': (rng.uniform(0.5, 0.9), rng.uniform(0.6, 1.0), rng.uniform(1.0, 1.2),
                   CLS['mirror'], MIRROR, _jitter(rng, (0.7, 0.75, 0.78), 0.03), 0.01),
        'whiteboard': (rng.uniform(1.2, 2.0), rng.uniform(0.9, 1.2), rng.uniform(0.9, 1.1),
                       CLS['whiteboard'], PLAIN, _jitter(rng, (0.95, 0.95, 0.95), 0.02), 0.02),
        'blinds': (rng.uniform(0.8, 1.6), rng.uniform(1.0, 1.4), rng.uniform(0.9, 1.1),
                   CLS['blinds'], STRIPES, _jitter(rng, (0.85, 0.83, 0.78), 0.05), 0.03),
        'curtain': (rng.uniform(0.5, 0.9), rng.uniform(1.8, 2.3), rng.uniform(0.2, 0.4),
                    CLS['curtain'], STRIPES, _fabric(rng), 0.05),
        'shower curtain': (rng.uniform(0.8, 1.4), rng.uniform(1.6, 1.9), rng.uniform(0.3, 0.5),
                           CLS['shower curtain'], STRIPES, _jitter(rng, (0.85, 0.9, 0.95), 0.1),
                           0.04),
        'towel': (rng.uniform(0.3, 0.6), rng.uniform(0.5, 0.8), rng.uniform(0.8, 1.1),
                  CLS['towel'], FABRIC, _fabric(rng), 0.04),
        'television': (rng.uniform(0.8, 1.2), rng.uniform(0.5, 0.7), rng.uniform(1.0, 1.3),
                       CLS['television'], SCREEN, (0.05, 0.05, 0.06), 0.06),
    }
    w, h, bottom, label, tex, color, thick = specs[kind]
    h = min(h, height - bottom - 0.05)
    if w > length - 0.2 or h <= 0.1:
        return
    for _ in range(10):
        s = rng.uniform(w / 2 + 0.05, length - w / 2 - 0.05)
        xz = origin + along * s + normal * thick
        if xz[1] > cam_z + 0.8:  # in front of the camera
            break
    else:
        return
    color_b = None
    if tex == PICTURE:
        color_b = rng.uniform(0.1, 0.9, 3)
    scene.add_part((xz[0], bottom + h / 2, xz[1]), (w / 2, h / 2, thick), _yaw_facing(normal),
                   label, tex, color, color_b)


def build_scene(rng: np.random.Generator) -> tuple[Scene, np.ndarray, np.ndarray]:
    """Sample a room, its furniture and a camera.

    Returns:
        tuple: the scene, the camera centre (3,) and the camera-to-world rotation (3, 3) whose
        columns are the camera's right, down and forward axes (OpenCV camera frame).
    """
    dims = np.array([rng.uniform(3.2, 6.0), rng.uniform(2.5, 3.1), rng.uniform(3.8, 7.0)])
    scene = Scene(rng, dims)
    cam = np.array([rng.uniform(0.3, 0.7) * dims[0], rng.uniform(1.1, 1.7),
                    rng.uniform(0.3, min(1.2, 0.3 * dims[2]))])
    yaw = rng.uniform(-0.6, 0.6)
    pitch = rng.uniform(-0.5, -0.12)  # looking down
    roll = rng.uniform(-0.05, 0.05)

    room = str(rng.choice(list(ROOM_TYPES)))
    wall_items, free_items, decorations = ROOM_TYPES[room]
    cam_xz = cam[[0, 2]]
    for name in rng.choice(wall_items, size=rng.integers(3, 7)):
        _place(scene, str(name), True, cam_xz)
    for name in rng.choice(free_items, size=rng.integers(2, 6)):
        _place(scene, str(name), False, cam_xz)
    for name in rng.choice(decorations, size=rng.integers(2, 5), replace=False):
        _add_wall_decoration(scene, str(name), cam[2])
    if rng.random() < 0.4:  # floor mat
        w, d = rng.uniform(0.8, 2.0), rng.uniform(0.6, 1.5)
        x, z = rng.uniform(w / 2, dims[0] - w / 2), rng.uniform(1.0, dims[2] - d / 2)
        scene.add_part((x, 0.005, z), (w / 2, 0.005, d / 2), rng.uniform(-0.3, 0.3),
                       CLS['floor mat'], STRIPES, _fabric(rng))
    if rng.random() < 0.25:  # a column or beam: other structure
        x, z = rng.uniform(0.3, dims[0] - 0.3), rng.uniform(1.5, dims[2] - 0.3)
        if scene.free(x, z, 0.25):
            scene.add_part((x, dims[1] / 2, z), (0.15, dims[1] / 2, 0.15), 0.0,
                           CLS['otherstructure'], PLAIN, _jitter(rng, PAINTS[0], 0.05))

    forward = np.array([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)])
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    c, s = np.cos(roll), np.sin(roll)
    right, down = c * right + s * down, -s * right + c * down
    return scene, cam, np.stack([right, down, forward], axis=1)


# ------------------------------------------------------------------------------------------
# Ray casting
# ------------------------------------------------------------------------------------------
def _rotate_y(x, z, yaw):
    """Coordinates (x, z) expressed in a frame rotated by ``yaw`` about the vertical axis."""
    c, s = np.cos(yaw), np.sin(yaw)
    return c * x - s * z, s * x + c * z


def _safe_inverse(d: np.ndarray) -> np.ndarray:
    return 1.0 / np.where(np.abs(d) < 1e-12, 1e-12, d)


def cast_boxes(origins, dirs, boxes, t_max=None):
    """Nearest entry hit of rays with the (closed, oriented) boxes.

    Coordinates are kept as separate 1-D arrays: reductions over a length-3 axis are slow.

    Args:
        origins: (N, 3) or (3,) ray origins.
        dirs: (N, 3) ray directions (any length; t is in units of it).
        boxes: the scene arrays (``centers``, ``halves``, ``yaws``).
        t_max: optional (N,) upper bound on t (for shadow rays).

    Returns:
        tuple: t (N,) (inf where nothing is hit), box index (N,) (-1) and hit axis (N,) in the
        box frame.
    """
    n = dirs.shape[0]
    origins = np.asarray(origins, np.float64)
    if origins.ndim == 1:  # one origin (camera rays): scalars keep the per-box work small
        ox, oy, oz = (float(v) for v in origins)
    else:
        ox, oy, oz = (np.ascontiguousarray(origins[:, k]) for k in range(3))
    dx, dy, dz = (np.ascontiguousarray(dirs[:, k]) for k in range(3))
    best_t = np.full(n, np.inf) if t_max is None else np.asarray(t_max, np.float64).copy()
    best_box = np.full(n, -1)
    best_axis = np.zeros(n, np.int64)
    iy = _safe_inverse(dy)
    inverse_dirs = {}  # parts of one object share their yaw: rotate the directions once
    for b in range(len(boxes['yaws'])):
        cx, cy, cz = boxes['centers'][b]
        hx, hy, hz = boxes['halves'][b]
        yaw = float(boxes['yaws'][b])
        lx, lz = _rotate_y(ox - cx, oz - cz, yaw)
        ly = oy - cy
        if yaw not in inverse_dirs:
            rx, rz = _rotate_y(dx, dz, yaw)
            inverse_dirs[yaw] = _safe_inverse(rx), _safe_inverse(rz)
        ix, iz = inverse_dirs[yaw]
        ax, bx = (-hx - lx) * ix, (hx - lx) * ix
        ay, by = (-hy - ly) * iy, (hy - ly) * iy
        az, bz = (-hz - lz) * iz, (hz - lz) * iz
        lo_x, lo_y, lo_z = np.minimum(ax, bx), np.minimum(ay, by), np.minimum(az, bz)
        t_near = np.maximum(np.maximum(lo_x, lo_y), lo_z)
        t_far = np.minimum(np.minimum(np.maximum(ax, bx), np.maximum(ay, by)),
                           np.maximum(az, bz))
        hit = (t_near <= t_far) & (t_near > 1e-6) & (t_near < best_t)
        if not hit.any():
            continue
        axis = np.where(lo_x == t_near, 0, np.where(lo_y == t_near, 1, 2))
        best_t = np.where(hit, t_near, best_t)
        best_box = np.where(hit, b, best_box)
        best_axis = np.where(hit, axis, best_axis)
    if t_max is not None:
        best_t = np.where(best_box >= 0, best_t, np.inf)
    return best_t, best_box, best_axis


def cast_room(origin, dirs, dims):
    """Exit hit of rays started inside the room box [0, dims]."""
    inv = _safe_inverse(dirs)
    t = np.maximum(-origin * inv, (dims - origin) * inv)
    axis = t.argmin(axis=1)
    return t.min(axis=1), axis


# ------------------------------------------------------------------------------------------
# Shading
# ------------------------------------------------------------------------------------------
def _texture_weight(kind, u, v, params):
    """Procedural mix weight in [0, 1] between colour a and b (vectorised over pixels)."""
    freq, phase, scale = params[:, 0], params[:, 1], params[:, 2]
    w = np.zeros_like(u)
    m = kind == PLAIN
    w[m] = 0.5 * scale[m] * (np.sin(1.3 * u[m] + phase[m]) * np.sin(1.7 * v[m] + phase[m]) + 1)
    m = kind == WOOD
    w[m] = 0.5 + 0.5 * np.sin(freq[m] * (u[m] + 0.08 * np.sin(3.1 * v[m] + phase[m])))
    m = kind == TILES
    cell = 0.3 + 0.3 * scale[m]
    fu, fv = np.mod(u[m] / cell, 1.0), np.mod(v[m] / cell, 1.0)
    grout = (fu < 0.05) | (fv < 0.05)
    checker = (np.floor(u[m] / cell) + np.floor(v[m] / cell)) % 2
    w[m] = np.where(grout, 1.0, 0.25 * checker)
    m = kind == FABRIC
    w[m] = 0.5 + 0.25 * np.sin(2.5 * freq[m] * u[m]) * np.sin(2.5 * freq[m] * v[m]) + \
        0.25 * np.sin(0.4 * freq[m] * u[m] + phase[m])
    m = kind == STRIPES
    w[m] = 0.5 + 0.5 * np.sin(1.5 * freq[m] * v[m] + phase[m]) ** 3
    m = kind == DRAWERS
    rows = np.mod(v[m] * 3.0 + phase[m], 1.0)
    w[m] = np.where(rows < 0.06, 1.0, 0.15 * np.sin(freq[m] * u[m]) ** 2)
    m = kind == BOOKS
    slot = np.floor(u[m] / 0.035) + 7.0 * np.floor(v[m] / 0.33)
    w[m] = np.mod(np.sin(slot * 12.9898 + params[m, 3]) * 43758.5453, 1.0)
    shelf = np.mod(v[m] / 0.33, 1.0) < 0.12
    w[m] = np.where(shelf, -1.0, w[m])  # marks shelf boards, coloured with colour a below
    return w


def shade(hits):
    """Colour of every ray hit (N, 3) in [0, 1], before the camera effects."""
    kind, u, v = hits['kind'], hits['u'], hits['v']
    params, col_a, col_b = hits['params'], hits['color_a'], hits['color_b']
    w = _texture_weight(kind, u, v, params)
    albedo = col_a * (1 - np.clip(w, 0, 1))[:, None] + col_b * np.clip(w, 0, 1)[:, None]
    books = kind == BOOKS
    if books.any():
        seed = params[books, 3][:, None]
        slot_col = np.abs(np.sin(w[books, None] * np.array([91.7, 37.3, 53.1]) + seed))
        albedo[books] = np.where((w[books] < 0)[:, None], col_a[books], 0.2 + 0.6 * slot_col)
    pic = kind == PICTURE
    if pic.any():
        f = params[pic, 0:1] * 0.3
        ph = params[pic, 1:2]
        uv = np.stack([u[pic], v[pic]], axis=1)
        art = 0.5 + 0.5 * np.sin(uv[:, :1] * f * np.array([1.0, 0.6, 1.4])
                                 + uv[:, 1:] * f * np.array([0.7, 1.3, 0.4])
                                 + ph * np.array([1.0, 2.0, 3.0]))
        albedo[pic] = 0.5 * art + 0.25 * col_a[pic] + 0.25 * col_b[pic]

    normal, point = hits['normal_world'], hits['point']
    light_dir = hits['light_dir']
    lam = np.clip(normal @ light_dir, 0, None)
    to_lamp = hits['lamp'] - point
    dist = np.linalg.norm(to_lamp, axis=1)
    lam_p = np.clip(np.sum(normal * to_lamp, axis=1) / dist, 0, None)
    lit = hits['lamp_visible'] * lam_p / (1.0 + (dist / 2.5) ** 2)
    intensity = hits['ambient'] + hits['k_dir'] * lam + hits['k_lamp'] * lit
    color = albedo * intensity[:, None] * hits['light_color']

    # Emissive surfaces ignore the lighting.
    sky = kind == WINDOW
    if sky.any():
        grad = np.clip(0.5 + 0.4 * v[sky], 0, 1)[:, None]
        color[sky] = np.clip(col_a[sky] * (0.9 + 0.25 * grad) + 0.1, 0, 1)
        frame = (np.mod(u[sky] / 0.5 + 0.02, 1.0) < 0.05) | (np.mod(v[sky] / 0.6, 1.0) < 0.04)
        color[sky] = np.where(frame[:, None], 0.85, color[sky])
    mir = kind == MIRROR
    if mir.any():
        color[mir] = col_a[mir] * (0.75 + 0.2 * np.sin(2.0 * u[mir] + v[mir]))[:, None]
    scr = kind == SCREEN
    if scr.any():
        color[scr] = col_a[scr] + 0.08 * np.clip(u[scr] + v[scr], 0, 1)[:, None]
    return color


# ------------------------------------------------------------------------------------------
# Rendering one sample
# ------------------------------------------------------------------------------------------
def intrinsics(height: int, width: int) -> tuple[float, float, float]:
    """Focal length and principal point used for an image of this size."""
    return NYU_FX_AT_640 * width / 640.0, width / 2.0, height / 2.0


def render_sample(rng: np.random.Generator, height: int, width: int) -> dict[str, np.ndarray]:
    """Render one sample.

    Returns:
        dict: ``image`` (H, W, 3) uint8 RGB, ``semseg`` (H, W) uint8, ``depth`` (H, W) float32
        (0 invalid), ``normals`` (H, W, 3) float32 unit vectors (camera frame x right, y up,
        z to the viewer), ``edge`` (H, W) uint8 in {0, 1}.
    """
    scene, cam, rot = build_scene(rng)
    boxes = scene.as_arrays()
    f, cx, cy = intrinsics(height, width)
    vv, uu = np.mgrid[0:height, 0:width].astype(np.float64)
    d_cam = np.stack([(uu + 0.5 - cx) / f, (vv + 0.5 - cy) / f, np.ones_like(uu)], axis=-1)
    dirs = d_cam.reshape(-1, 3) @ rot.T  # the forward component of d_cam is 1: t is z-depth

    t_room, axis_room = cast_room(cam, dirs, scene.dims)
    t_box, box, axis_box = cast_boxes(cam, dirs, boxes)
    on_box = t_box < t_room
    t = np.where(on_box, t_box, t_room)
    point = cam + t[:, None] * dirs
    n_pix = dirs.shape[0]

    # Room surfaces: normals point into the room; labels floor / ceiling / wall.
    normal = np.zeros((n_pix, 3))
    idx = np.arange(n_pix)
    normal[idx, axis_room] = -np.sign(dirs[idx, axis_room])
    label = np.where(axis_room != 1, CLS['wall'],
                     np.where(dirs[:, 1] < 0, CLS['floor'], CLS['ceiling']))
    # Surface id: room faces 0..5, box faces 6 + 6 * box + face.
    surface = axis_room * 2 + (dirs[idx, axis_room] > 0)
    # Texture coordinates: in-plane world coordinates for the room.
    u = np.where(axis_room == 0, point[:, 2], point[:, 0])
    v = np.where(axis_room == 1, point[:, 2], point[:, 1])

    n_parts = len(boxes['yaws'])
    wall_paint = _jitter(rng, PAINTS[rng.integers(len(PAINTS))], 0.03)
    floor_kind = int(rng.choice([WOOD, TILES, FABRIC]))
    floor_col = (_wood(rng) if floor_kind == WOOD
                 else _jitter(rng, (0.6, 0.58, 0.55), 0.1))
    room_params = np.array([rng.uniform(6, 14), rng.uniform(0, 2 * np.pi), 0.2, 0.0])
    kind = np.where(label == CLS['floor'], floor_kind, PLAIN)
    color_a = np.where((label == CLS['floor'])[:, None], floor_col,
                       np.where((label == CLS['ceiling'])[:, None], np.array([0.93, 0.93, 0.92]),
                                wall_paint))
    color_b = color_a * 0.8
    params = np.broadcast_to(room_params, (n_pix, 4)).copy()

    if n_parts and on_box.any():
        sel = np.flatnonzero(on_box)
        b = box[sel]
        ax = axis_box[sel]
        yaw = boxes['yaws'][b]
        c, s = np.cos(yaw), np.sin(yaw)
        d_loc = np.stack([c * dirs[sel, 0] - s * dirs[sel, 2], dirs[sel, 1],
                          s * dirs[sel, 0] + c * dirs[sel, 2]], axis=1)
        sign = -np.sign(d_loc[np.arange(len(sel)), ax])
        n_loc = np.zeros((len(sel), 3))
        n_loc[np.arange(len(sel)), ax] = sign
        # Back to the world frame (inverse of _dir_to_local).
        normal[sel] = np.stack([c * n_loc[:, 0] + s * n_loc[:, 2], n_loc[:, 1],
                                -s * n_loc[:, 0] + c * n_loc[:, 2]], axis=1)
        label[sel] = boxes['labels'][b]
        surface[sel] = 6 + 6 * b + 2 * ax + (sign > 0)
        p_loc = point[sel] - boxes['centers'][b]
        p_loc = np.stack([c * p_loc[:, 0] - s * p_loc[:, 2], p_loc[:, 1],
                          s * p_loc[:, 0] + c * p_loc[:, 2]], axis=1)
        u[sel] = np.where(ax == 0, p_loc[:, 2], p_loc[:, 0])
        v[sel] = np.where(ax == 1, p_loc[:, 2], p_loc[:, 1])
        kind[sel] = boxes['kinds'][b]
        color_a[sel] = boxes['color_a'][b]
        color_b[sel] = boxes['color_b'][b]
        params[sel] = boxes['params'][b]

    # Lighting: ambient + directional + a ceiling lamp with cast shadows from the furniture.
    lamp = np.array([rng.uniform(0.2, 0.8) * scene.dims[0], scene.dims[1] - 0.05,
                     rng.uniform(0.3, 0.8) * scene.dims[2]])
    start = point + 1e-4 * normal
    _, blocker, _ = cast_boxes(start, lamp - start, boxes, t_max=np.full(n_pix, 1.0))
    light_dir = np.array([rng.uniform(-0.6, 0.6), 1.0, rng.uniform(-0.6, 0.6)])
    hits = dict(kind=kind, u=u, v=v, params=params, color_a=color_a, color_b=color_b,
                normal_world=normal, point=point, light_dir=light_dir / np.linalg.norm(light_dir),
                lamp=lamp, lamp_visible=(blocker < 0).astype(np.float64),
                ambient=rng.uniform(0.3, 0.45), k_dir=rng.uniform(0.2, 0.4),
                k_lamp=rng.uniform(0.6, 1.1), light_color=_jitter(rng, (1.0, 0.97, 0.9), 0.04))
    color = shade(hits).reshape(height, width, 3)

    # Camera effects: exposure, slight blur, sensor noise.
    color = color * rng.uniform(0.85, 1.2)
    color = _blur(color)
    color = color + rng.normal(0, 0.02, color.shape)
    image = np.clip(np.round(color * 255), 0, 255).astype(np.uint8)

    depth = t.reshape(height, width)
    normal_cam = normal @ rot  # components along the camera's right, down, forward axes
    normals = np.stack([normal_cam[:, 0], -normal_cam[:, 1], -normal_cam[:, 2]], axis=1)
    normals = normals.reshape(height, width, 3)
    label = label.reshape(height, width)
    surface = surface.reshape(height, width)
    edge = boundaries(label, depth, normals, surface)

    invalid = np.isin(kind.reshape(height, width), NO_DEPTH_KINDS)
    invalid |= _sensor_shadow(depth, rng)
    depth = np.where(invalid, 0.0, depth).astype(np.float32)
    normals = normals.astype(np.float32)
    return dict(image=image, semseg=label.astype(np.uint8), depth=depth, normals=normals,
                edge=edge)


def _blur(img: np.ndarray) -> np.ndarray:
    """Separable [1, 2, 1] / 4 blur with edge replication."""
    p = np.pad(img, ((1, 1), (0, 0), (0, 0)), mode='edge')
    img = 0.25 * p[:-2] + 0.5 * p[1:-1] + 0.25 * p[2:]
    p = np.pad(img, ((0, 0), (1, 1), (0, 0)), mode='edge')
    return 0.25 * p[:, :-2] + 0.5 * p[:, 1:-1] + 0.25 * p[:, 2:]


def boundaries(label, depth, normals, surface) -> np.ndarray:
    """Thin boundary map (uint8 {0, 1}) marking the nearer pixel of each boundary pair."""
    edge = np.zeros(label.shape, bool)
    for axis in (0, 1):
        sl_a = (slice(None, -1), slice(None)) if axis == 0 else (slice(None), slice(None, -1))
        sl_b = (slice(1, None), slice(None)) if axis == 0 else (slice(None), slice(1, None))
        da, db = depth[sl_a], depth[sl_b]
        cos = np.sum(normals[sl_a] * normals[sl_b], axis=-1)
        differ = surface[sl_a] != surface[sl_b]
        jump = np.abs(da - db) > EDGE_DEPTH_REL * np.minimum(da, db)
        crease = cos < EDGE_NORMAL_COS
        is_edge = differ & ((label[sl_a] != label[sl_b]) | jump | crease)
        a_nearer = da <= db
        edge[sl_a] |= is_edge & a_nearer
        edge[sl_b] |= is_edge & ~a_nearer
    return edge.astype(np.uint8)


def _sensor_shadow(depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random 1-3 px bands of missing depth on the far side of occluding contours."""
    height, width = depth.shape
    far_side = np.zeros_like(depth, bool)
    # A Kinect's projector sits beside the camera, so shadows fall on one side (here the right).
    jump = depth[:, 1:] - depth[:, :-1] > 0.15 * depth[:, :-1]
    far_side[:, 1:] = jump
    keep_rows = rng.random(height) < 0.6
    band = far_side & keep_rows[:, None]
    width_px = int(rng.integers(1, 4))
    out = band.copy()
    for k in range(1, width_px):
        out[:, k:] |= band[:, :-k]
    return out


# ------------------------------------------------------------------------------------------
# Writing the dataset
# ------------------------------------------------------------------------------------------
def encode_normals(normals: np.ndarray) -> np.ndarray:
    """(H, W, 3) float normals to the RGB uint8 encoding ``round((n + 1) / 2 * 255)``."""
    return np.clip(np.round((normals + 1.0) * 0.5 * 255.0), 0, 255).astype(np.uint8)


def sample_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def write_dataset(out_dir: str, num_train: int = 200, num_val: int = 50,
                  size: Sequence[int] = DEFAULT_SIZE, seed: int = 0) -> list[str]:
    """Render and write the dataset. Returns the names written (train first, then val)."""
    if num_train < 0 or num_val < 0:
        raise ValueError(f'--num-train and --num-val must be >= 0, got {num_train}, {num_val}')
    height, width = (int(s) for s in size)
    if height < 8 or width < 8:
        raise ValueError(f'--size must be at least 8 x 8 pixels, got {height} x {width}')
    total = num_train + num_val
    digits = max(4, len(str(max(total - 1, 0))))
    names = [f'{i:0{digits}d}' for i in range(total)]
    for sub in ('images', 'segmentation', 'depth', 'normals', 'edge', 'gt_sets'):
        os.makedirs(osp.join(out_dir, sub), exist_ok=True)
    for i, name in enumerate(names):
        sample = render_sample(sample_rng(seed, i), height, width)
        Image.fromarray(sample['image'], 'RGB').save(osp.join(out_dir, 'images', name + '.png'))
        Image.fromarray(sample['semseg'], 'L').save(
            osp.join(out_dir, 'segmentation', name + '.png'))
        np.save(osp.join(out_dir, 'depth', name + '.npy'), sample['depth'])
        Image.fromarray(encode_normals(sample['normals']), 'RGB').save(
            osp.join(out_dir, 'normals', name + '.png'))
        Image.fromarray(sample['edge'] * np.uint8(255), 'L').save(
            osp.join(out_dir, 'edge', name + '.png'))
    for split, split_names in (('train', names[:num_train]), ('val', names[num_train:])):
        with open(osp.join(out_dir, 'gt_sets', f'{split}.txt'), 'w') as f:
            f.write(''.join(n + '\n' for n in split_names))
    f, cx, cy = intrinsics(height, width)
    meta = dict(
        generator='tools/misc/make_synthetic_nyud.py', seed=seed, size=[height, width],
        num_train=num_train, num_val=num_val,
        intrinsics=dict(fx=f, fy=f, cx=cx, cy=cy, pixel_centers='(u + 0.5, v + 0.5)'),
        depth='z-depth in metres, 0 = invalid',
        normals='camera frame: x right, y up, z towards the viewer; PNG = round((n+1)/2*255)',
        segmentation='0 = unlabeled, k = NYU-40 class k', classes=list(NYU40_CLASSES))
    with open(osp.join(out_dir, 'meta.json'), 'w') as f:
        json.dump(meta, f, indent=2)
    return names


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Render a synthetic multi-task dataset in the NYUD-v2 layout '
                    '(images, segmentation, depth, normals, edge, gt_sets).')
    parser.add_argument('out_dir', help='output folder (created if missing)')
    parser.add_argument('--num-train', type=int, default=200, help='training images')
    parser.add_argument('--num-val', type=int, default=50, help='validation images')
    parser.add_argument('--size', type=int, nargs=2, default=list(DEFAULT_SIZE),
                        metavar=('H', 'W'), help='image height and width')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    names = write_dataset(args.out_dir, args.num_train, args.num_val, args.size, args.seed)
    print(f'Wrote {len(names)} samples ({args.num_train} train, {args.num_val} val) of '
          f'{args.size[0]}x{args.size[1]} to {args.out_dir}')


if __name__ == '__main__':
    main()
