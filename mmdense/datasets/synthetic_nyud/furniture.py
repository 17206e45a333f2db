"""Furniture templates of the synthetic NYUD-v2 renderer: boxes with labels and materials."""
import numpy as np

from .labels import CLS, UNLABELED
from .materials import (
    BOOKS,
    DRAWERS,
    FABRIC,
    FABRICS,
    PLAIN,
    SCREEN,
    STRIPES,
    TILES,
    WOOD,
    WOODS,
    fabric_color,
    jitter,
    wood_color,
)


# Furniture templates: each returns (parts, footprint radius, height) in the object frame, with
# the back of the object at z = -depth/2 (so it can stand against a wall).
def _table(rng, label=CLS['table']):
    w, d, h = rng.uniform(0.8, 1.6), rng.uniform(0.6, 1.0), rng.uniform(0.7, 0.78)
    col = wood_color(rng)
    leg = 0.03
    parts = [((0, h - 0.02, 0), (w / 2, 0.02, d / 2), label, WOOD, col)]
    for sx in (-1, 1):
        for sz in (-1, 1):
            parts.append(((sx * (w / 2 - 0.06), (h - 0.04) / 2, sz * (d / 2 - 0.06)),
                          (leg, (h - 0.04) / 2, leg), label, PLAIN, col * 0.8))
    return parts, 0.5 * np.hypot(w, d), h


def _desk(rng):
    w, d, h = rng.uniform(1.0, 1.6), rng.uniform(0.55, 0.75), rng.uniform(0.72, 0.78)
    col = jitter(rng, (0.85, 0.85, 0.82) if rng.random() < 0.5 else WOODS[0], 0.05)
    label = CLS['desk']
    parts = [((0, h - 0.02, 0), (w / 2, 0.02, d / 2), label, WOOD, col),
             ((-w / 2 + 0.02, (h - 0.04) / 2, 0), (0.02, (h - 0.04) / 2, d / 2 - 0.02), label,
              PLAIN, col * 0.9),
             ((w / 2 - 0.22, (h - 0.04) / 2, 0), (0.2, (h - 0.04) / 2, d / 2 - 0.02), label,
              DRAWERS, col * 0.9)]
    return parts, 0.5 * np.hypot(w, d), h


def _chair(rng):
    s, hs = rng.uniform(0.4, 0.5), rng.uniform(0.42, 0.48)
    col = fabric_color(rng) if rng.random() < 0.5 else wood_color(rng)
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
    col = fabric_color(rng)
    label = CLS['sofa']
    parts = [((0, 0.22, 0.05), (w / 2 - 0.18, 0.22, d / 2 - 0.05), label, FABRIC, col),
             ((0, 0.42, -d / 2 + 0.1), (w / 2, 0.42, 0.1), label, FABRIC, col * 0.92),
             ((-w / 2 + 0.09, 0.3, 0.05), (0.09, 0.3, d / 2 - 0.05), label, FABRIC, col * 0.95),
             ((w / 2 - 0.09, 0.3, 0.05), (0.09, 0.3, d / 2 - 0.05), label, FABRIC, col * 0.95)]
    if rng.random() < 0.6:
        parts.append(((-w / 4, 0.58, -d / 2 + 0.3), (0.22, 0.15, 0.08), CLS['pillow'], FABRIC,
                      fabric_color(rng)))
    return parts, 0.5 * np.hypot(w, d), 0.84


def _bed(rng):
    w, length = rng.uniform(1.2, 1.9), rng.uniform(1.9, 2.1)
    h = rng.uniform(0.45, 0.6)
    label = CLS['bed']
    sheet = jitter(rng, FABRICS[rng.integers(len(FABRICS))], 0.1)
    parts = [((0, h / 2, 0), (w / 2, h / 2, length / 2), label, FABRIC, sheet),
             ((0, (h + 0.6) / 2, -length / 2 - 0.04), (w / 2 + 0.03, (h + 0.6) / 2, 0.04), label,
              WOOD, wood_color(rng))]
    pillow = jitter(rng, (0.9, 0.9, 0.88), 0.05)
    n_pillows = 2 if w > 1.35 else 1
    for k in range(n_pillows):
        x = 0 if n_pillows == 1 else (k - 0.5) * w / 2
        parts.append(((x, h + 0.07, -length / 2 + 0.3), (0.28, 0.07, 0.18), CLS['pillow'],
                      FABRIC, pillow))
    if rng.random() < 0.4:
        parts.append(((0, h + 0.05, length / 4), (w / 3, 0.04, 0.25), CLS['clothes'], FABRIC,
                      fabric_color(rng)))
    return parts, 0.5 * np.hypot(w, length), h + 0.6


def _tall_box(rng, label, size_range, kind, color):
    w = rng.uniform(*size_range[0])
    d = rng.uniform(*size_range[1])
    h = rng.uniform(*size_range[2])
    parts = [((0, h / 2, 0), (w / 2, h / 2, d / 2), label, kind, color)]
    return parts, 0.5 * np.hypot(w, d), h


def _cabinet(rng):
    return _tall_box(rng, CLS['cabinet'], ((0.5, 1.2), (0.4, 0.6), (0.8, 2.0)), DRAWERS,
                     wood_color(rng) if rng.random() < 0.6 else jitter(rng, (0.9, 0.9, 0.88), 0.03))


def _dresser(rng):
    parts, r, h = _tall_box(rng, CLS['dresser'], ((0.8, 1.4), (0.45, 0.55), (0.75, 1.0)),
                            DRAWERS, wood_color(rng))
    if rng.random() < 0.4:
        parts.append(((0, h + 0.3, 0), (0.45, 0.28, 0.03), CLS['television'], SCREEN,
                      (0.05, 0.05, 0.06)))
    elif rng.random() < 0.5:
        parts.append(((0.1, h + 0.05, 0.05), (0.15, 0.05, 0.1), CLS['otherprop'], PLAIN,
                      rng.uniform(0.1, 0.9, 3)))
    return parts, r, h


def _night_stand(rng):
    parts, radius, h = _tall_box(rng, CLS['night stand'], ((0.4, 0.55), (0.35, 0.45),
                                                           (0.5, 0.65)), DRAWERS, wood_color(rng))
    if rng.random() < 0.6:
        shade_col = jitter(rng, (0.95, 0.9, 0.75), 0.05)
        parts += [((0, h + 0.15, 0), (0.015, 0.15, 0.015), CLS['lamp'], PLAIN, (0.3, 0.3, 0.3)),
                  ((0, h + 0.36, 0), (0.13, 0.1, 0.13), CLS['lamp'], PLAIN, shade_col)]
        h += 0.46
    return parts, radius, h


def _bookshelf(rng):
    w, d, h = rng.uniform(0.6, 1.2), rng.uniform(0.3, 0.4), rng.uniform(1.4, 2.0)
    col = wood_color(rng)
    parts = [((0, h / 2, -0.01), (w / 2, h / 2, d / 2 - 0.01), CLS['bookshelf'], WOOD, col),
             ((0, h / 2, d / 2 - 0.01), (w / 2 - 0.04, h / 2 - 0.06, 0.012), CLS['books'], BOOKS,
              col)]
    return parts, 0.5 * np.hypot(w, d), h


def _refrigerator(rng):
    return _tall_box(rng, CLS['refridgerator'], ((0.6, 0.8), (0.6, 0.7), (1.6, 1.9)), PLAIN,
                     jitter(rng, (0.85, 0.86, 0.88), 0.04))


def _counter(rng):
    w, d, h = rng.uniform(1.2, 2.4), 0.6, rng.uniform(0.86, 0.92)
    body = wood_color(rng) if rng.random() < 0.5 else jitter(rng, (0.9, 0.9, 0.88), 0.03)
    parts = [((0, (h - 0.04) / 2, -0.02), (w / 2, (h - 0.04) / 2, d / 2 - 0.02), CLS['cabinet'],
              DRAWERS, body),
             ((0, h - 0.02, 0), (w / 2 + 0.01, 0.02, d / 2), CLS['counter'], TILES,
              jitter(rng, (0.4, 0.4, 0.42), 0.08))]
    if rng.random() < 0.7:
        parts.append(((rng.uniform(-w / 4, w / 4), h + 0.03, 0), (0.25, 0.03, 0.2), CLS['sink'],
                      PLAIN, jitter(rng, (0.8, 0.82, 0.85), 0.03)))
    return parts, 0.5 * np.hypot(w, d), h + 0.06


def _toilet(rng):
    col = jitter(rng, (0.93, 0.93, 0.92), 0.02)
    label = CLS['toilet']
    parts = [((0, 0.2, 0.05), (0.18, 0.2, 0.26), label, PLAIN, col),
             ((0, 0.55, -0.2), (0.2, 0.17, 0.09), label, PLAIN, col)]
    return parts, 0.4, 0.72


def _bathtub(rng):
    w = rng.uniform(1.5, 1.7)
    return _tall_box(rng, CLS['bathtub'], ((w, w), (0.7, 0.8), (0.5, 0.6)), PLAIN,
                     jitter(rng, (0.93, 0.93, 0.95), 0.02))


def _small_prop(rng):
    label = int(rng.choice([CLS['box'], CLS['bag'], CLS['otherprop'], CLS['otherfurniture'],
                            UNLABELED, UNLABELED]))
    col = (jitter(rng, (0.62, 0.47, 0.3), 0.05) if label == CLS['box']
           else rng.uniform(0.1, 0.9, 3))
    kind = PLAIN if label == CLS['box'] else int(rng.choice([PLAIN, FABRIC, STRIPES]))
    return _tall_box(rng, label, ((0.2, 0.6), (0.2, 0.5), (0.15, 0.6)), kind, col)


TEMPLATES = dict(table=_table, desk=_desk, chair=_chair, sofa=_sofa, bed=_bed, cabinet=_cabinet,
                 dresser=_dresser, night_stand=_night_stand, bookshelf=_bookshelf,
                 refrigerator=_refrigerator, counter=_counter, toilet=_toilet,
                 bathtub=_bathtub, prop=_small_prop)
