"""Scenes of the synthetic NYUD-v2 renderer: a room, its furniture and wall decorations, and
the camera."""
import numpy as np

from .furniture import TEMPLATES
from .labels import CLS
from .materials import (
    FABRIC,
    MIRROR,
    PAINTS,
    PICTURE,
    PLAIN,
    SCREEN,
    STRIPES,
    WINDOW,
    WOOD,
    fabric_color,
    jitter,
    wood_color,
)


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
                   CLS['window'], WINDOW, jitter(rng, (0.75, 0.85, 1.0), 0.05), 0.01),
        'door': (rng.uniform(0.8, 0.9), rng.uniform(2.0, 2.1), 0.0, CLS['door'], WOOD,
                 wood_color(rng) if rng.random() < 0.6 else jitter(rng, (0.9, 0.9, 0.88), 0.03),
                 0.03),
        'mirror': (rng.uniform(0.5, 0.9), rng.uniform(0.6, 1.0), rng.uniform(1.0, 1.2),
                   CLS['mirror'], MIRROR, jitter(rng, (0.7, 0.75, 0.78), 0.03), 0.01),
        'whiteboard': (rng.uniform(1.2, 2.0), rng.uniform(0.9, 1.2), rng.uniform(0.9, 1.1),
                       CLS['whiteboard'], PLAIN, jitter(rng, (0.95, 0.95, 0.95), 0.02), 0.02),
        'blinds': (rng.uniform(0.8, 1.6), rng.uniform(1.0, 1.4), rng.uniform(0.9, 1.1),
                   CLS['blinds'], STRIPES, jitter(rng, (0.85, 0.83, 0.78), 0.05), 0.03),
        'curtain': (rng.uniform(0.5, 0.9), rng.uniform(1.8, 2.3), rng.uniform(0.2, 0.4),
                    CLS['curtain'], STRIPES, fabric_color(rng), 0.05),
        'shower curtain': (rng.uniform(0.8, 1.4), rng.uniform(1.6, 1.9), rng.uniform(0.3, 0.5),
                           CLS['shower curtain'], STRIPES, jitter(rng, (0.85, 0.9, 0.95), 0.1),
                           0.04),
        'towel': (rng.uniform(0.3, 0.6), rng.uniform(0.5, 0.8), rng.uniform(0.8, 1.1),
                  CLS['towel'], FABRIC, fabric_color(rng), 0.04),
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
                       CLS['floor mat'], STRIPES, fabric_color(rng))
    if rng.random() < 0.25:  # a column or beam: other structure
        x, z = rng.uniform(0.3, dims[0] - 0.3), rng.uniform(1.5, dims[2] - 0.3)
        if scene.free(x, z, 0.25):
            scene.add_part((x, dims[1] / 2, z), (0.15, dims[1] / 2, 0.15), 0.0,
                           CLS['otherstructure'], PLAIN, jitter(rng, PAINTS[0], 0.05))

    forward = np.array([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)])
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    c, s = np.cos(roll), np.sin(roll)
    right, down = c * right + s * down, -s * right + c * down
    return scene, cam, np.stack([right, down, forward], axis=1)
