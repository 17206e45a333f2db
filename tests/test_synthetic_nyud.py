"""Tests of the synthetic NYUD-v2 renderer (mmdense.datasets.synthetic_nyud) and its command,
tools/misc/make_synthetic_nyud.py: layout, formats, determinism and geometry."""
import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from mmdense.datasets import NYUD_CLASSES
from mmdense.datasets.synthetic_nyud import intrinsics, render_sample, sample_rng

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
_spec = importlib.util.spec_from_file_location(
    'make_synthetic_nyud', osp.join(ROOT, 'tools', 'misc', 'make_synthetic_nyud.py'))
synth = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synth)

FLOOR, WALL, WINDOW = 2, 1, 9


def _write(out_dir, *extra):
    synth.main([str(out_dir), '--num-train', '3', '--num-val', '2', '--size', '24', '32',
                *extra])


def _decode_normals(path):
    return 2.0 * np.asarray(Image.open(path), np.float64) / 255.0 - 1.0


def test_layout_and_formats(tmp_path):
    _write(tmp_path, '--seed', '3')
    train = (tmp_path / 'gt_sets' / 'train.txt').read_text().splitlines()
    val = (tmp_path / 'gt_sets' / 'val.txt').read_text().splitlines()
    assert train == ['0000', '0001', '0002'] and val == ['0003', '0004']
    for sub, ext in (('images', '.png'), ('segmentation', '.png'), ('depth', '.npy'),
                     ('normals', '.png'), ('edge', '.png')):
        assert sorted(os.listdir(tmp_path / sub)) == [n + ext for n in train + val]

    for name in train + val:
        img = Image.open(tmp_path / 'images' / f'{name}.png')
        assert img.mode == 'RGB' and img.size == (32, 24)
        assert np.asarray(img).std() > 5  # not a flat image

        seg = Image.open(tmp_path / 'segmentation' / f'{name}.png')
        assert seg.mode == 'L' and seg.size == (32, 24)
        seg = np.asarray(seg)
        assert seg.max() <= 40 and (seg == WALL).any()

        depth = np.load(tmp_path / 'depth' / f'{name}.npy')
        assert depth.dtype == np.float32 and depth.shape == (24, 32)
        assert depth.min() >= 0 and 0.2 < depth[depth > 0].min() and depth.max() < 15

        normals_img = Image.open(tmp_path / 'normals' / f'{name}.png')
        assert normals_img.mode == 'RGB' and normals_img.size == (32, 24)
        normals = _decode_normals(tmp_path / 'normals' / f'{name}.png')
        # Unit vectors everywhere (up to 8-bit quantisation), as in the NYUD-v2 release.
        np.testing.assert_allclose(np.linalg.norm(normals, axis=-1), 1.0, atol=0.02)

        edge = Image.open(tmp_path / 'edge' / f'{name}.png')
        assert edge.mode == 'L' and edge.size == (32, 24)
        assert set(np.unique(np.asarray(edge))) <= {0, 255}

    meta = json.loads((tmp_path / 'meta.json').read_text())
    assert 'fx' in meta['intrinsics']
    # The class list is the dataset's, on-disk id k = NYUD_CLASSES[k - 1].
    assert meta['classes'] == list(NYUD_CLASSES)
    assert meta['generator'] == 'tools/misc/make_synthetic_nyud.py'


def test_deterministic_and_prefix_stable(tmp_path):
    _write(tmp_path / 'a', '--seed', '5')
    _write(tmp_path / 'b', '--seed', '5')
    _write(tmp_path / 'c', '--seed', '6')
    synth.main([str(tmp_path / 'd'), '--num-train', '1', '--num-val', '0', '--size', '24', '32',
                '--seed', '5'])
    for sub, name in (('images', '0001.png'), ('segmentation', '0004.png'),
                      ('depth', '0002.npy'), ('normals', '0000.png'), ('edge', '0003.png')):
        assert (tmp_path / 'a' / sub / name).read_bytes() == \
            (tmp_path / 'b' / sub / name).read_bytes()
    img_a = np.asarray(Image.open(tmp_path / 'a' / 'images' / '0000.png'))
    img_c = np.asarray(Image.open(tmp_path / 'c' / 'images' / '0000.png'))
    assert not np.array_equal(img_a, img_c)
    # Sample i depends only on (seed, i): a smaller dataset is a prefix of a larger one.
    img_d = np.asarray(Image.open(tmp_path / 'd' / 'images' / '0000.png'))
    np.testing.assert_array_equal(img_a, img_d)
    assert (tmp_path / 'd' / 'gt_sets' / 'val.txt').read_text() == ''


@pytest.mark.parametrize('args, message', [
    (['--num-train', '-1'], 'num-train'),
    (['--size', '4', '32'], '--size'),
])
def test_bad_arguments(tmp_path, args, message):
    with pytest.raises(ValueError, match=message):
        synth.main([str(tmp_path), *args])


@pytest.fixture(scope='module')
def samples():
    height, width = 48, 64
    return [render_sample(sample_rng(11, i), height, width) for i in range(8)]


def test_floor_geometry(samples):
    """Floor normals point up in the camera frame and agree with the floor's depth."""
    checked = 0
    for s in samples:
        seg, depth, normals = s['semseg'], s['depth'], s['normals']
        floor = (seg == FLOOR) & (depth > 0)
        if floor.sum() < 50:
            continue
        checked += 1
        n = normals[floor]
        assert (n[:, 1] > 0.85).all()  # camera looks down at most ~30 degrees, rolls ~3
        np.testing.assert_allclose(n, np.broadcast_to(n[0], n.shape), atol=1e-6)  # one plane

        # A plane n.X = k seen by a pinhole has 1/z affine in the normalised pixel
        # coordinates, with coefficients proportional to the plane normal (OpenCV frame,
        # here (x, -y, -z) of the stored normal). Fit it from the depth alone.
        f, cx, cy = intrinsics(*depth.shape)
        rows, cols = np.nonzero(floor)
        a = np.stack([(cols + 0.5 - cx) / f, (rows + 0.5 - cy) / f, np.ones(len(rows))], 1)
        coef, residual, *_ = np.linalg.lstsq(a, 1.0 / depth[floor], rcond=None)
        assert residual[0] / len(rows) < 1e-8
        n_cv = n[0] * np.array([1.0, -1.0, -1.0])
        cos = abs(coef @ n_cv) / np.linalg.norm(coef)
        assert cos > np.cos(np.deg2rad(0.5))

        # Depth increases towards the horizon: up each column, along consecutive floor pixels.
        both = floor[1:] & floor[:-1]
        assert (depth[:-1][both] > depth[1:][both]).all()
    assert checked >= 4


def test_normals_face_the_camera(samples):
    for s in samples:
        depth, normals = s['depth'], s['normals']
        valid = depth > 0
        f, cx, cy = intrinsics(*depth.shape)
        rows, cols = np.nonzero(valid)
        # Viewing rays in the stored frame (x right, y up, z towards the viewer).
        rays = np.stack([(cols + 0.5 - cx) / f, -(rows + 0.5 - cy) / f, -np.ones(len(rows))], 1)
        assert (np.sum(normals[valid] * rays, axis=1) < 1e-6).all()
        # Walls are vertical: nearly orthogonal to the up direction when looking down < 30 deg.
        wall = (s['semseg'] == WALL) & valid
        assert (np.abs(normals[wall][:, 1]) < 0.55).all()


def test_invalid_depth(samples):
    invalid = np.concatenate([(s['depth'] == 0).ravel() for s in samples])
    assert 0 < invalid.mean() < 0.2
    for s in samples:
        window = s['semseg'] == WINDOW
        assert (s['depth'][window] == 0).all()
        np.testing.assert_allclose(np.linalg.norm(s['normals'], axis=-1), 1.0, atol=1e-5)


def test_edges_lie_on_discontinuities(samples):
    for s in samples:
        seg = s['semseg'].astype(np.int64)
        depth, normals, edge = s['depth'], s['normals'], s['edge'].astype(bool)
        assert set(np.unique(s['edge'])) <= {0, 1} and 0 < edge.mean() < 0.25

        # Every label change between 4-neighbours has an edge on one side of it.
        for axis in (0, 1):
            a = [slice(None)] * 2
            b = [slice(None)] * 2
            a[axis], b[axis] = slice(None, -1), slice(1, None)
            change = seg[tuple(a)] != seg[tuple(b)]
            assert (edge[tuple(a)] | edge[tuple(b)])[change].all()

        # Every edge pixel has a 4-neighbour with another label, a depth jump or a crease.
        h, w = seg.shape
        pad = lambda x, v: np.pad(x, [(1, 1), (1, 1)] + [(0, 0)] * (x.ndim - 2),  # noqa: E731
                                  constant_values=v)
        seg_p, depth_p, normals_p = pad(seg, -1), pad(depth, 0.0), pad(normals, 0.0)
        explained = np.zeros((h, w), bool)
        unknown = depth == 0
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            ns = seg_p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
            nd = depth_p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
            nn = normals_p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
            inside = ns >= 0
            jump = np.abs(nd - depth) > 0.03 * np.minimum(nd, depth)
            crease = np.sum(nn * normals, -1) < np.cos(np.deg2rad(20))
            explained |= inside & ((ns != seg) | (nd == 0) | jump | crease)
            unknown |= inside & (nd == 0)
        assert explained[edge & ~unknown].all()
        assert (edge & ~unknown).sum() > 20

        # Thin: one pixel along each contour, so 3x3 all-edge blocks only appear on objects
        # one or two pixels wide (table legs seen from afar).
        blocks = np.ones((h - 2, w - 2), bool)
        for dy in range(3):
            for dx in range(3):
                blocks &= edge[dy:dy + h - 2, dx:dx + w - 2]
        assert blocks.sum() <= 0.03 * edge.sum()
