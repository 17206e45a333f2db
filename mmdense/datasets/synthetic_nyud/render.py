"""Rendering of one synthetic NYUD-v2 sample: image, labels, depth, normals and boundaries from
the same ray hits."""
import numpy as np

from .labels import CLS
from .materials import FABRIC, NO_DEPTH_KINDS, PAINTS, PLAIN, TILES, WOOD, jitter, shade, wood_color
from .raycast import cast_boxes, cast_room
from .scene import build_scene

NYU_FX_AT_640 = 518.8579


# Boundary criteria.
EDGE_DEPTH_REL = 0.03
EDGE_NORMAL_COS = float(np.cos(np.deg2rad(20.0)))


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
    wall_paint = jitter(rng, PAINTS[rng.integers(len(PAINTS))], 0.03)
    floor_kind = int(rng.choice([WOOD, TILES, FABRIC]))
    floor_col = (wood_color(rng) if floor_kind == WOOD
                 else jitter(rng, (0.6, 0.58, 0.55), 0.1))
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
                k_lamp=rng.uniform(0.6, 1.1), light_color=jitter(rng, (1.0, 0.97, 0.9), 0.04))
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
