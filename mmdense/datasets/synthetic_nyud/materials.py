"""Materials of the synthetic NYUD-v2 renderer: texture kinds, colour palettes and shading."""
import numpy as np

# Texture kinds (albedo = mix of colour a and colour b by a procedural weight).
PLAIN, WOOD, TILES, FABRIC, STRIPES, PICTURE, BOOKS, DRAWERS = range(8)
# Emissive kinds are not lit: windows show the sky, mirrors a blurred grey, screens are dark.
WINDOW, MIRROR, SCREEN = 8, 9, 10
NO_DEPTH_KINDS = (WINDOW, MIRROR, SCREEN)


def jitter(rng, color, amount=0.08):
    """``color`` shifted by Gaussian noise, kept inside (0.02, 0.98)."""
    return np.clip(np.asarray(color) + rng.normal(0, amount, 3), 0.02, 0.98)


WOODS = ((0.55, 0.36, 0.2), (0.7, 0.52, 0.32), (0.38, 0.24, 0.14), (0.8, 0.68, 0.5))
PAINTS = ((0.86, 0.83, 0.76), (0.9, 0.9, 0.88), (0.72, 0.8, 0.86), (0.78, 0.84, 0.72),
          (0.88, 0.78, 0.68), (0.7, 0.7, 0.74))
FABRICS = ((0.6, 0.2, 0.2), (0.25, 0.35, 0.6), (0.35, 0.5, 0.35), (0.75, 0.7, 0.6),
           (0.45, 0.45, 0.5), (0.8, 0.55, 0.3), (0.55, 0.4, 0.6))


def wood_color(rng):
    """A wood colour of the palette, jittered."""
    return jitter(rng, WOODS[rng.integers(len(WOODS))], 0.05)


def fabric_color(rng):
    """A fabric colour of the palette, jittered."""
    return jitter(rng, FABRICS[rng.integers(len(FABRICS))], 0.06)


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
