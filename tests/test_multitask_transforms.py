"""Tests of the multi-task loading, augmentation and packing transforms."""
import copy

import mmcv
import numpy as np
import pytest
import torch

from mmdense.datasets.transforms import (
    IgnoreEmptyHumanParts,
    LoadMultiTaskAnnotations,
    MultiTaskPad,
    MultiTaskRandomCrop,
    MultiTaskRandomFlip,
    MultiTaskRandomResize,
    MultiTaskResize,
    PackMultiTaskInputs,
)
from mmdense.registry import TRANSFORMS
from mmdense.structures import MultiTaskDataSample

H, W = 6, 8


def _results(h=H, w=W, seed=0):
    """A sample with every task: labels encode positions so geometry can be checked."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[:h, :w]
    normals = rng.normal(size=(h, w, 3)).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    normals[0, 0] = 0  # an ignored pixel
    depth = (1 + ys * w + xs).astype(np.float32) / 10
    depth[1, 1] = 0  # invalid
    semseg = ((ys // 2) * 4 + xs // 2).astype(np.uint8)
    semseg[0, 1] = 255
    return dict(
        img=np.stack([ys, xs, ys + xs], axis=-1).astype(np.uint8),
        img_shape=(h, w),
        ori_shape=(h, w),
        img_path='img.png',
        tasks=['semseg', 'depth', 'normals', 'edge', 'human_parts', 'sal'],
        gt_semseg=semseg,
        gt_depth=depth,
        gt_normals=normals,
        gt_edge=(xs == 3).astype(np.uint8),
        gt_human_parts=(ys % 7).astype(np.uint8),
        gt_sal=(ys > 2).astype(np.uint8),
        task_fields=['gt_semseg', 'gt_depth', 'gt_normals', 'gt_edge', 'gt_human_parts',
                     'gt_sal'])


def test_all_transforms_are_registered():
    for name in ('LoadMultiTaskAnnotations', 'MultiTaskResize', 'MultiTaskRandomResize',
                 'MultiTaskRandomCrop', 'MultiTaskRandomFlip', 'MultiTaskPad',
                 'IgnoreEmptyHumanParts', 'PackMultiTaskInputs', 'PhotoMetricDistortion',
                 'LoadImageFromFile'):
        assert TRANSFORMS.get(name) is not None, name


# ------------------------------------------------------------------------------------------
# Flip
# ------------------------------------------------------------------------------------------
def test_flip_negates_normals_x_and_flips_every_label():
    res = _results()
    ref = copy.deepcopy(res)
    out = MultiTaskRandomFlip(prob=1.)(res)
    assert out['flip'] is True and out['flip_direction'] == 'horizontal'
    np.testing.assert_array_equal(out['img'], ref['img'][:, ::-1])
    for key in ('gt_semseg', 'gt_depth', 'gt_edge', 'gt_human_parts', 'gt_sal'):
        np.testing.assert_array_equal(out[key], ref[key][:, ::-1])
    flipped = ref['gt_normals'][:, ::-1]
    np.testing.assert_array_equal(out['gt_normals'][..., 0], -flipped[..., 0])
    np.testing.assert_array_equal(out['gt_normals'][..., 1:], flipped[..., 1:])
    assert (out['gt_normals'][0, -1] == 0).all()  # ignored pixels stay ignored


def test_no_flip_keeps_everything():
    res = _results()
    ref = copy.deepcopy(res)
    out = MultiTaskRandomFlip(prob=0.)(res)
    assert out['flip'] is False and out['flip_direction'] is None
    np.testing.assert_array_equal(out['gt_normals'], ref['gt_normals'])
    with pytest.raises(ValueError, match='horizontal'):
        MultiTaskRandomFlip(direction='vertical')


# ------------------------------------------------------------------------------------------
# Resize
# ------------------------------------------------------------------------------------------
def test_resize_nearest_labels_and_unchanged_depth_values():
    res = _results()
    ref = copy.deepcopy(res)
    out = MultiTaskResize(scale_factor=2.)(res)
    assert out['img'].shape == (2 * H, 2 * W, 3) and out['img_shape'] == (2 * H, 2 * W)
    assert out['scale_factor'] == (2., 2.)
    for key in out['task_fields']:
        # nearest neighbour at an exact 2x: every 2x2 block repeats one source pixel
        for dy in (0, 1):
            for dx in (0, 1):
                np.testing.assert_array_equal(out[key][dy::2, dx::2], ref[key], err_msg=key)
        assert out[key].dtype == ref[key].dtype
    assert set(np.unique(out['gt_depth'])) == set(np.unique(ref['gt_depth']))
    # the image is bilinear, not a repetition of its pixels
    assert not np.array_equal(out['img'], ref['img'].repeat(2, axis=0).repeat(2, axis=1))


def test_resize_options():
    out = MultiTaskResize(scale_factor=2., rescale_depth=True)(_results())
    np.testing.assert_allclose(out['gt_depth'][::2, ::2], _results()['gt_depth'] / 2, rtol=1e-6)
    out = MultiTaskResize(scale_factor=2., continuous_interpolation='bilinear')(_results())
    assert len(np.unique(out['gt_depth'])) > len(np.unique(_results()['gt_depth']))
    assert set(np.unique(out['gt_semseg'])) == set(np.unique(_results()['gt_semseg']))
    # keep_ratio fits (w, h) = (32, 12) into long edge 32, short edge 12 -> 16x12
    out = MultiTaskResize(scale=(32, 12))(_results())
    assert out['img_shape'] == (12, 16) and out['gt_normals'].shape == (12, 16, 3)
    out = MultiTaskResize(scale=(5, 7), keep_ratio=False)(_results())
    assert out['img_shape'] == (7, 5) and out['gt_semseg'].shape == (7, 5)
    with pytest.raises(ValueError, match='exactly one'):
        MultiTaskResize()


def test_random_resize_own_size_ratio_like_official():
    np.random.seed(3)
    ratio = np.random.uniform(0.5, 2.0)
    np.random.seed(3)
    res = _results(24, 32)
    ref = copy.deepcopy(res)
    out = MultiTaskRandomResize(ratio_range=(0.5, 2.0))(res)
    expected = (int(24 * ratio), int(32 * ratio))
    assert out['img_shape'] == expected and out['img'].shape[:2] == expected
    for key in out['task_fields']:
        assert out[key].shape[:2] == expected
    assert set(np.unique(out['gt_semseg'])) <= set(np.unique(ref['gt_semseg']))
    assert set(np.unique(out['gt_depth'])) <= set(np.unique(ref['gt_depth']))


def test_random_resize_scales():
    out = MultiTaskRandomResize(scales=[0.5])(_results(24, 32))
    assert out['img_shape'] == (12, 16) and out['gt_sal'].shape == (12, 16)
    out = MultiTaskRandomResize(scales=[(64, 48)])(_results(24, 32))
    assert out['img_shape'] == (48, 64)
    np.random.seed(0)
    out = MultiTaskRandomResize(scale=(64, 48), ratio_range=(0.5, 0.5))(_results(24, 32))
    assert out['img_shape'] == (24, 32)
    with pytest.raises(ValueError, match='exactly one'):
        MultiTaskRandomResize(ratio_range=(0.5, 2.), scales=[1.])


# ------------------------------------------------------------------------------------------
# Crop
# ------------------------------------------------------------------------------------------
def test_crop_takes_the_same_window_everywhere():
    res = _results(12, 16)
    ref = copy.deepcopy(res)
    np.random.seed(1)
    out = MultiTaskRandomCrop(crop_size=(5, 7))(res)
    assert out['img_shape'] == (5, 7)
    y0, x0 = int(out['img'][0, 0, 0]), int(out['img'][0, 0, 1])
    for key in ref['task_fields']:
        np.testing.assert_array_equal(out[key], ref[key][y0:y0 + 5, x0:x0 + 7], err_msg=key)
    # a crop larger than the image keeps the image size
    out = MultiTaskRandomCrop(crop_size=(20, 4))(_results(12, 16))
    assert out['img_shape'] == (12, 4) and out['gt_normals'].shape == (12, 4, 3)


def _two_halves():
    res = _results(10, 20)
    semseg = np.ones((10, 20), np.uint8)
    semseg[:, 10:] = 2
    semseg[0, :] = 255  # ignored pixels do not count
    res['gt_semseg'] = semseg
    return res


def _ratio(seg):
    _, counts = np.unique(seg[seg != 255], return_counts=True)
    return counts.max() / counts.sum(), len(counts)


def test_crop_cat_max_ratio():
    violations = 0
    for seed in range(20):
        np.random.seed(seed)
        out = MultiTaskRandomCrop(crop_size=(10, 10), cat_max_ratio=0.75)(_two_halves())
        ratio, num = _ratio(out['gt_semseg'])
        assert num > 1 and ratio < 0.75, seed
        np.random.seed(seed)
        out = MultiTaskRandomCrop(crop_size=(10, 10))(_two_halves())
        ratio, num = _ratio(out['gt_semseg'])
        violations += num == 1 or ratio >= 0.75
    assert violations > 0  # without the constraint some crops are dominated by one class
    # without a semseg label the constraint is skipped
    res = _two_halves()
    del res['gt_semseg']
    res['task_fields'].remove('gt_semseg')
    out = MultiTaskRandomCrop(crop_size=(10, 10), cat_max_ratio=0.75)(res)
    assert out['img_shape'] == (10, 10)


# ------------------------------------------------------------------------------------------
# Pad
# ------------------------------------------------------------------------------------------
def test_pad_uses_each_task_ignore_value():
    res = _results()
    ref = copy.deepcopy(res)
    out = MultiTaskPad(size=(H + 3, W + 2))(res)
    assert out['pad_shape'] == (H + 3, W + 2) and out['img_shape'] == (H, W)
    assert out['padding_size'] == (0, 2, 0, 3)  # (left, right, top, bottom)
    for key in ('gt_semseg', 'gt_edge', 'gt_human_parts', 'gt_sal'):
        assert (out[key][H:] == 255).all() and (out[key][:, W:] == 255).all(), key
        np.testing.assert_array_equal(out[key][:H, :W], ref[key])
    assert (out['gt_depth'][H:] == 0).all() and (out['gt_depth'][:, W:] == 0).all()
    assert out['gt_depth'].dtype == np.float32
    assert out['gt_normals'].shape == (H + 3, W + 2, 3)
    assert (out['gt_normals'][H:] == 0).all() and (out['gt_normals'][:, W:] == 0).all()
    assert (out['img'][H:] == 0).all()
    np.testing.assert_array_equal(out['img'][:H, :W], ref['img'])


def test_pad_center_divisor_and_no_crop():
    res = _results()
    ref = copy.deepcopy(res)
    out = MultiTaskPad(size=(H + 4, W + 3), center=True, img_pad_val=(1, 2, 3))(res)
    assert out['padding_size'] == (1, 2, 2, 2)  # (left, right, top, bottom)
    again = MultiTaskPad(size=(H + 5, W + 4))(out)  # a second pad adds to the record
    assert again['padding_size'] == (1, 3, 2, 3)
    np.testing.assert_array_equal(out['gt_semseg'][2:2 + H, 1:1 + W], ref['gt_semseg'])
    assert (out['gt_semseg'][:2] == 255).all() and (out['gt_semseg'][:, :1] == 255).all()
    assert tuple(out['img'][0, 0]) == (1, 2, 3)
    out = MultiTaskPad(size_divisor=4)(_results())
    assert out['pad_shape'] == (8, 8)
    out = MultiTaskPad(size=(2, 2))(_results())  # never crops
    assert out['pad_shape'] == (H, W) and out['padding_size'] == (0, 0, 0, 0)


# ------------------------------------------------------------------------------------------
# Photometric distortion and human-parts ignore rule
# ------------------------------------------------------------------------------------------
def test_mmseg_photometric_distortion_touches_only_the_image():
    res = _results(16, 16)
    res['img'] = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    ref = copy.deepcopy(res)
    np.random.seed(0)
    out = TRANSFORMS.build(dict(type='PhotoMetricDistortion'))(res)
    assert set(out) == set(ref)
    assert not np.array_equal(out['img'], ref['img'])
    for key in ref:
        if key != 'img':
            np.testing.assert_array_equal(out[key], ref[key], err_msg=key)


def test_ignore_empty_human_parts():
    res = _results()
    res['gt_human_parts'] = np.zeros((H, W), np.uint8)
    res['gt_human_parts'][0] = 255
    out = IgnoreEmptyHumanParts()(res)
    assert (out['gt_human_parts'] == 255).all()
    res = _results()
    kept = res['gt_human_parts'].copy()
    np.testing.assert_array_equal(IgnoreEmptyHumanParts()(res)['gt_human_parts'], kept)


# ------------------------------------------------------------------------------------------
# Loading and packing
# ------------------------------------------------------------------------------------------
def test_load_annotations_checks_shapes(tmp_path):
    depth = np.ones((H, W), np.float32)
    np.save(tmp_path / 'd.npy', depth)
    mmcv.imwrite(np.full((H + 1, W), 255, np.uint8), str(tmp_path / 'e.png'))
    results = dict(img=np.zeros((H, W, 3), np.uint8), img_path='x.png', tasks=['depth', 'edge'],
                   label_specs=dict(depth=dict(type='npy_depth', path=str(tmp_path / 'd.npy')),
                                    edge=dict(type='png_binary', path=str(tmp_path / 'e.png'))))
    with pytest.raises(ValueError, match=r'e\.png: edge label is 7x8 but the image x\.png'):
        LoadMultiTaskAnnotations()(copy.deepcopy(results))
    out = LoadMultiTaskAnnotations(tasks=['depth'])(copy.deepcopy(results))
    assert out['task_fields'] == ['gt_depth'] and out['gt_depth'].dtype == np.float32
    with pytest.raises(KeyError, match='label_specs'):
        LoadMultiTaskAnnotations()(dict(img=results['img']))


def test_pack_dtypes_shapes_and_meta():
    res = MultiTaskPad(size=(H + 2, W))(MultiTaskRandomFlip(prob=1.)(_results()))
    res['name'] = 'sample'
    out = PackMultiTaskInputs()(res)
    inputs, sample = out['inputs'], out['data_samples']
    assert isinstance(sample, MultiTaskDataSample)
    assert inputs.shape == (3, H + 2, W) and inputs.dtype == torch.uint8
    assert torch.equal(inputs, torch.from_numpy(res['img']).permute(2, 0, 1))
    for task in ('semseg', 'edge', 'human_parts', 'sal'):
        data = sample.get_gt(task).data
        assert data.shape == (1, H + 2, W) and data.dtype == torch.int64, task
    assert sample.gt_semseg.data[0, -1, 0] == 255
    assert sample.gt_depth.data.shape == (1, H + 2, W)
    assert sample.gt_depth.data.dtype == torch.float32
    assert sample.gt_normals.data.shape == (3, H + 2, W)
    assert sample.gt_normals.data.dtype == torch.float32
    torch.testing.assert_close(sample.gt_normals.data,
                               torch.from_numpy(res['gt_normals']).permute(2, 0, 1))
    meta = sample.metainfo
    assert meta['tasks'] == res['tasks'] and sample.tasks == res['tasks']
    assert meta['img_shape'] == (H, W) and meta['pad_shape'] == (H + 2, W)
    assert meta['ori_shape'] == (H, W) and meta['flip'] is True
    assert meta['flip_direction'] == 'horizontal' and meta['name'] == 'sample'
    assert meta['img_path'] == 'img.png' and meta['scale_factor'] == (1., 1.)


def test_pack_rejects_wrong_channels():
    res = _results()
    res['gt_depth'] = np.zeros((H, W, 3), np.float32)
    with pytest.raises(ValueError, match=r'gt_depth.*3 channel.*expects 1'):
        PackMultiTaskInputs()(res)
