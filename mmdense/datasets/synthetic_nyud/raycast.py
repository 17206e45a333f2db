"""Ray casting of the synthetic NYUD-v2 renderer: rays against oriented boxes and the room."""
import numpy as np


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
