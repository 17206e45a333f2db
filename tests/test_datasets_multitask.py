"""Tests of the NYUD-v2 and PASCAL-Context multi-task datasets and their label decoding."""
import os

import numpy as np
import pytest
from PIL import Image

from mmdense.datasets import NYUDv2MultiTaskDataset, PascalContextMultiTaskDataset
from mmdense.datasets.pascal_context_meta import NORMALS_VALID_CLASSES
from mmdense.registry import DATASETS
from tests.helpers.multitask_fixtures import (
    write_label_map_mat,
    write_nyud_fixture,
    write_pascal_fixture,
    write_pascal_part_mat,
)

LOAD = [dict(type='LoadImageFromFile'), dict(type='LoadMultiTaskAnnotations')]
H, W = 24, 32


@pytest.fixture(scope='module')
def nyud_root(tmp_path_factory):
    return write_nyud_fixture(tmp_path_factory.mktemp('nyud') / 'NYUDv2', num_train=2,
                              num_val=1, size=(H, W), seed=1)


@pytest.fixture(scope='module')
def pascal_root(tmp_path_factory):
    return write_pascal_fixture(tmp_path_factory.mktemp('pascal') / 'PASCALContext',
                                num_train=3, num_val=1, size=(H, W), seed=2)


@pytest.fixture
def nyud_copy(tmp_path):
    """A fresh NYUD-v2 fixture the test may damage."""
    return write_nyud_fixture(tmp_path / 'NYUDv2', num_train=2, num_val=1, size=(H, W))


@pytest.fixture
def pascal_copy(tmp_path):
    return write_pascal_fixture(tmp_path / 'PASCALContext', num_train=3, num_val=1, size=(H, W))


def _png(path, array):
    Image.fromarray(array).save(path)


# ------------------------------------------------------------------------------------------
# NYUD-v2
# ------------------------------------------------------------------------------------------
def test_nyud_fixture_is_non_trivial(nyud_root):
    ds = NYUDv2MultiTaskDataset(data_root=str(nyud_root), split='train', pipeline=LOAD)
    assert len(ds) == 2
    for i in range(len(ds)):
        out = ds[i]
        semseg = out['gt_semseg']
        assert (semseg == 255).any() and len(np.unique(semseg[semseg != 255])) >= 4
        assert (out['gt_depth'] == 0).any() and (out['gt_depth'] > 0.4).any()
        assert set(np.unique(out['gt_edge'])) == {0, 1}


def test_nyud_decoding_matches_the_files(nyud_root):
    ds = NYUDv2MultiTaskDataset(data_root=str(nyud_root), split='val', pipeline=LOAD)
    out = ds[0]
    name = out['name']
    assert out['img_path'] == os.path.join(str(nyud_root), 'images', f'{name}.png')
    assert out['task_fields'] == ['gt_semseg', 'gt_depth', 'gt_normals', 'gt_edge']

    raw_seg = np.asarray(Image.open(nyud_root / 'segmentation' / f'{name}.png')).astype(int)
    expected = np.where(raw_seg == 0, 255, raw_seg - 1)
    assert out['gt_semseg'].dtype == np.uint8 and out['gt_semseg'].shape == (H, W)
    np.testing.assert_array_equal(out['gt_semseg'], expected)

    raw_depth = np.load(nyud_root / 'depth' / f'{name}.npy')
    assert out['gt_depth'].dtype == np.float32
    np.testing.assert_array_equal(out['gt_depth'], raw_depth)
    assert (out['gt_depth'][raw_depth == 0] == 0).all()

    raw_normals = np.asarray(Image.open(nyud_root / 'normals' / f'{name}.png')).astype(float)
    assert out['gt_normals'].shape == (H, W, 3) and out['gt_normals'].dtype == np.float32
    np.testing.assert_allclose(out['gt_normals'], 2 * raw_normals / 255 - 1, atol=1e-6)

    raw_edge = np.asarray(Image.open(nyud_root / 'edge' / f'{name}.png'))
    np.testing.assert_array_equal(out['gt_edge'], raw_edge // 255)


def test_nyud_hand_built_values(nyud_copy):
    name = '000000'
    seg = np.zeros((H, W), np.uint8)
    seg[:, 8:16], seg[:, 16:24], seg[:, 24:] = 5, 1, 40
    _png(nyud_copy / 'segmentation' / f'{name}.png', seg)
    normals = np.zeros((H, W, 3), np.uint8)
    normals[...] = (255, 0, 128)
    _png(nyud_copy / 'normals' / f'{name}.png', normals)
    depth = np.full((H, W), 2.5, np.float32)
    depth[0, :5] = 0
    np.save(nyud_copy / 'depth' / f'{name}.npy', depth)
    edge = np.zeros((H, W), np.uint8)
    edge[3, :] = 255
    _png(nyud_copy / 'edge' / f'{name}.png', edge)

    out = NYUDv2MultiTaskDataset(data_root=str(nyud_copy), pipeline=LOAD)[0]
    assert out['name'] == name
    assert (out['gt_semseg'][:, :8] == 255).all()
    assert (out['gt_semseg'][:, 8:16] == 4).all()
    assert (out['gt_semseg'][:, 16:24] == 0).all()
    assert (out['gt_semseg'][:, 24:] == 39).all()
    np.testing.assert_allclose(out['gt_normals'][0, 0], [1., -1., 2 * 128 / 255 - 1], atol=1e-6)
    assert (out['gt_depth'][0, :5] == 0).all() and (out['gt_depth'][1:] == 2.5).all()
    assert out['gt_edge'][3].all() and out['gt_edge'].sum() == W


def test_nyud_task_subset_keeps_order(nyud_root):
    ds = NYUDv2MultiTaskDataset(data_root=str(nyud_root), tasks=['edge', 'semseg'],
                                pipeline=LOAD)
    assert ds.tasks == ('edge', 'semseg') and ds.metainfo['tasks'] == ('edge', 'semseg')
    out = ds[1]
    assert out['task_fields'] == ['gt_edge', 'gt_semseg'] and out['tasks'] == ['edge', 'semseg']
    assert 'gt_depth' not in out and 'gt_normals' not in out


def test_nyud_metainfo(nyud_root):
    ds = NYUDv2MultiTaskDataset(data_root=str(nyud_root), lazy_init=True)
    meta = ds.metainfo
    assert len(meta['classes']) == 40 and meta['classes'][0] == 'wall'
    assert meta['classes'][-1] == 'otherprop'
    assert len(meta['palette']) == 40 and [0, 0, 0] not in meta['palette']
    assert meta['tasks'] == ('semseg', 'depth', 'normals', 'edge')


def test_unknown_task_lists_the_valid_ones(nyud_root):
    with pytest.raises(ValueError, match=r"unknown task.*'sal'.*semseg.*depth.*normals.*edge"):
        NYUDv2MultiTaskDataset(data_root=str(nyud_root), tasks=['semseg', 'sal'])
    with pytest.raises(ValueError, match='duplicates'):
        NYUDv2MultiTaskDataset(data_root=str(nyud_root), tasks=['semseg', 'semseg'])


def test_missing_label_file_is_named_with_the_split_file(nyud_copy):
    missing = nyud_copy / 'depth' / '000001.npy'
    os.remove(missing)
    with pytest.raises(FileNotFoundError) as err:
        NYUDv2MultiTaskDataset(data_root=str(nyud_copy), split='train')
    assert str(missing) in str(err.value)
    assert os.path.join('gt_sets', 'train.txt') in str(err.value)
    assert '1 file(s)' in str(err.value)
    # files of tasks that are not loaded are not needed
    ds = NYUDv2MultiTaskDataset(data_root=str(nyud_copy), split='train', tasks=['semseg'])
    assert len(ds) == 2


def test_missing_split_file_and_data_root(nyud_root, tmp_path):
    with pytest.raises(FileNotFoundError, match=r'test\.txt.*\[.train., .val.\]'):
        NYUDv2MultiTaskDataset(data_root=str(nyud_root), split='test')
    with pytest.raises(FileNotFoundError, match='not a directory'):
        NYUDv2MultiTaskDataset(data_root=str(tmp_path / 'nowhere'))


def test_corrupt_files_are_named_at_load_time(nyud_copy):
    bad_seg = nyud_copy / 'segmentation' / '000000.png'
    bad_seg.write_bytes(b'not a png')
    bad_depth = nyud_copy / 'depth' / '000001.npy'
    bad_depth.write_bytes(b'garbage')
    ds = NYUDv2MultiTaskDataset(data_root=str(nyud_copy), pipeline=LOAD)
    with pytest.raises(OSError, match=str(bad_seg)):
        ds[0]
    with pytest.raises(OSError, match=str(bad_depth)):
        ds[1]


def test_corrupt_image_is_named(nyud_copy):
    bad_img = nyud_copy / 'images' / '000000.png'
    bad_img.write_bytes(b'\x89PNG broken')
    ds = NYUDv2MultiTaskDataset(data_root=str(nyud_copy), pipeline=LOAD)
    with pytest.raises(Exception, match=str(bad_img)):
        ds[0]


def test_shape_mismatch_names_label_and_image(nyud_copy):
    np.save(nyud_copy / 'depth' / '000001.npy', np.ones((H + 2, W), np.float32))
    _png(nyud_copy / 'normals' / '000000.png', np.zeros((H, W), np.uint8))
    ds = NYUDv2MultiTaskDataset(data_root=str(nyud_copy), pipeline=LOAD)
    with pytest.raises(ValueError) as err:
        ds[1]
    assert str(nyud_copy / 'depth' / '000001.npy') in str(err.value)
    assert str(nyud_copy / 'images' / '000001.png') in str(err.value)
    assert f'{H + 2}x{W}' in str(err.value)
    with pytest.raises(ValueError, match='000000.png: surface normals must be an RGB image'):
        ds[0]


def test_build_from_registry_with_full_pipeline(nyud_root):
    cfg = dict(
        type='NYUDv2MultiTaskDataset',
        data_root=str(nyud_root),
        split='train',
        pipeline=LOAD + [
            dict(type='MultiTaskRandomResize', ratio_range=(0.5, 2.0)),
            dict(type='MultiTaskRandomCrop', crop_size=(16, 20), cat_max_ratio=0.75),
            dict(type='MultiTaskRandomFlip', prob=0.5),
            dict(type='PhotoMetricDistortion'),
            dict(type='MultiTaskPad', size=(16, 20)),
            dict(type='PackMultiTaskInputs'),
        ])
    ds = DATASETS.build(cfg)
    np.random.seed(0)
    out = ds[0]
    assert out['inputs'].shape == (3, 16, 20)
    sample = out['data_samples']
    assert sample.metainfo['tasks'] == ['semseg', 'depth', 'normals', 'edge']
    assert sample.metainfo['name'] == '000000'
    assert sample.gt_normals.data.shape == (3, 16, 20)


# ------------------------------------------------------------------------------------------
# PASCAL-Context
# ------------------------------------------------------------------------------------------
def test_pascal_fixture_is_non_trivial(pascal_root):
    ds = PascalContextMultiTaskDataset(data_root=str(pascal_root), split='train', pipeline=LOAD)
    outs = [ds[i] for i in range(3)]
    parts = outs[0]['gt_human_parts']  # sample 0 has people with parts
    assert (parts == 0).any() and len(np.unique(parts[parts > 0])) >= 3 and parts.max() <= 6
    assert (outs[1]['gt_human_parts'] == 255).all()  # dog only
    assert (outs[2]['gt_human_parts'] == 255).all()  # person without parts
    for out in outs:
        assert len(np.unique(out['gt_semseg'])) >= 4
        assert set(np.unique(out['gt_sal'])) == {0, 1}
        assert out['gt_edge'].any()
        zero = np.linalg.norm(out['gt_normals'], axis=-1) == 0
        assert zero.any() and not zero.all()


def test_pascal_palette_semseg_and_saliency_threshold(pascal_root):
    ds = PascalContextMultiTaskDataset(data_root=str(pascal_root), split='val', pipeline=LOAD)
    out = ds[0]
    name = out['name']
    seg_img = Image.open(pascal_root / 'semseg' / 'pascal-context' / f'{name}.png')
    assert seg_img.mode == 'P'  # the indices, not the palette colours, are the labels
    np.testing.assert_array_equal(out['gt_semseg'], np.asarray(seg_img))
    raw_sal = np.asarray(Image.open(pascal_root / 'sal_distill' / f'{name}.png'))
    assert {127, 128} <= set(np.unique(raw_sal))
    assert (out['gt_sal'][raw_sal == 127] == 0).all()
    assert (out['gt_sal'][raw_sal == 128] == 1).all()
    np.testing.assert_array_equal(out['gt_sal'], (raw_sal > 127.5).astype(np.uint8))


def _person(parts, shape=(H, W), class_ind=15, cls='person'):
    mask = np.zeros(shape, np.uint8)
    for part in parts.values():
        mask |= part.astype(np.uint8)
    return dict(cls=cls, class_ind=class_ind, mask=mask, parts=parts)


def _rect(y0, y1, x0, x1):
    mask = np.zeros((H, W), np.uint8)
    mask[y0:y1, x0:x1] = 1
    return mask


def test_human_parts_mapping_from_hand_built_mat(pascal_copy):
    name = '2008_000000'
    first = _person({'hair': _rect(0, 4, 0, 8), 'neck': _rect(4, 8, 0, 8),
                     'luarm': _rect(8, 12, 0, 8), 'rhand': _rect(12, 16, 0, 8),
                     'ruleg': _rect(16, 20, 0, 8), 'lfoot': _rect(20, 24, 0, 8)})
    # a later person overlapping the first one wins on the overlap
    second = _person({'torso': _rect(0, 8, 4, 12)})
    dog = dict(cls='dog', class_ind=12, mask=_rect(0, 24, 20, 32),
               parts={'head': _rect(0, 10, 20, 32)})
    write_pascal_part_mat(pascal_copy / 'human_parts' / f'{name}.mat', name,
                          [first, dog, second])

    out = PascalContextMultiTaskDataset(data_root=str(pascal_copy), tasks=['human_parts'],
                                        pipeline=LOAD)[0]
    parts = out['gt_human_parts']
    expected = np.zeros((H, W), np.uint8)
    for rows, value in (((0, 4), 1), ((4, 8), 2), ((8, 12), 3), ((12, 16), 4), ((16, 20), 5),
                        ((20, 24), 6)):
        expected[rows[0]:rows[1], 0:8] = value
    expected[0:8, 4:12] = 2
    np.testing.assert_array_equal(parts, expected)

    parts14 = PascalContextMultiTaskDataset(
        data_root=str(pascal_copy), tasks=['human_parts'], num_human_parts=14,
        pipeline=LOAD)[0]['gt_human_parts']
    assert parts14[10, 0] == 6 and parts14[14, 0] == 5 and parts14[18, 0] == 9
    assert parts14[22, 0] == 14


def test_human_parts_without_people_are_ignored(pascal_copy):
    name = '2008_000000'
    dog = dict(cls='dog', class_ind=12, mask=_rect(0, 24, 20, 32),
               parts={'head': _rect(0, 10, 20, 32)})
    write_pascal_part_mat(pascal_copy / 'human_parts' / f'{name}.mat', name, [dog])
    ds = PascalContextMultiTaskDataset(data_root=str(pascal_copy), tasks=['human_parts'],
                                       pipeline=LOAD)
    out = ds[0]
    assert out['gt_human_parts'].shape == (H, W) and (out['gt_human_parts'] == 255).all()
    write_pascal_part_mat(pascal_copy / 'human_parts' / f'{name}.mat', name, [])
    assert (ds[0]['gt_human_parts'] == 255).all()


def test_human_parts_errors_name_the_file(pascal_copy):
    name = '2008_000000'
    path = pascal_copy / 'human_parts' / f'{name}.mat'
    write_pascal_part_mat(path, name, [_person({'tail': _rect(0, 4, 0, 4)})])
    ds = PascalContextMultiTaskDataset(data_root=str(pascal_copy), tasks=['human_parts'],
                                       pipeline=LOAD)
    with pytest.raises(KeyError, match=f"{name}.mat.*unknown human part name 'tail'"):
        ds[0]
    big = np.zeros((H + 1, W), np.uint8)
    big[0, 0] = 1
    write_pascal_part_mat(path, name, [dict(cls='person', class_ind=15, mask=_rect(0, 4, 0, 4),
                                            parts={'head': big})])
    with pytest.raises(ValueError, match=f'{name}.mat'):
        ds[0]
    path.write_bytes(b'not a mat file')
    with pytest.raises(OSError, match=f'{name}.mat'):
        ds[0]


def test_boundary_from_hand_built_label_map(pascal_copy):
    name = '2008_000000'
    label_map = np.full((H, W), 440, np.uint16)  # wall
    label_map[:, 12:] = 360  # sky
    write_label_map_mat(pascal_copy / 'pascal-context' / 'trainval' / f'{name}.mat', label_map)
    out = PascalContextMultiTaskDataset(data_root=str(pascal_copy), tasks=['edge'],
                                        pipeline=LOAD)[0]
    edge = out['gt_edge']
    assert edge.dtype == np.uint8 and set(np.unique(edge)) == {0, 1}
    # the Laplacian marks columns 11 and 12 (a two-pixel-wide band); thinning leaves a
    # one-pixel-wide line (the skeleton may lose an end pixel)
    assert not edge[:, :11].any() and not edge[:, 13:].any()
    assert (edge.sum(axis=1) <= 1).all() and edge.sum() >= H - 2

    write_label_map_mat(pascal_copy / 'pascal-context' / 'trainval' / f'{name}.mat',
                        np.full((H, W), 440, np.uint16))
    ds = PascalContextMultiTaskDataset(data_root=str(pascal_copy), tasks=['edge'], pipeline=LOAD)
    assert not ds[0]['gt_edge'].any()


def test_normals_are_masked_to_nyu_classes(pascal_copy):
    name = '2008_000000'
    label_map = np.full((H, W), 440, np.uint16)  # wall: kept
    label_map[:, 16:] = 360  # sky: dropped
    write_label_map_mat(pascal_copy / 'pascal-context' / 'trainval' / f'{name}.mat', label_map)
    normals = np.zeros((H, W, 3), np.uint8)
    normals[...] = (0, 255, 191)
    _png(pascal_copy / 'normals_distill' / f'{name}.png', normals)

    assert NORMALS_VALID_CLASSES['wall'] == 440 and 'sky' not in NORMALS_VALID_CLASSES
    assert len(NORMALS_VALID_CLASSES) == 170 and NORMALS_VALID_CLASSES['tvmonitor'] == 427
    out = PascalContextMultiTaskDataset(data_root=str(pascal_copy), tasks=['normals'],
                                        pipeline=LOAD)[0]
    np.testing.assert_allclose(out['gt_normals'][:, :16],
                               np.broadcast_to([-1., 1., 2 * 191 / 255 - 1], (H, 16, 3)),
                               atol=1e-6)
    assert (out['gt_normals'][:, 16:] == 0).all()

    out = PascalContextMultiTaskDataset(data_root=str(pascal_copy), tasks=['normals'],
                                        normals_valid_classes=[360], pipeline=LOAD)[0]
    assert (out['gt_normals'][:, :16] == 0).all() and (out['gt_normals'][:, 16:] != 0).all()


def test_voc12_semseg_wins_when_present(pascal_copy):
    name = '2008_000000'
    os.makedirs(pascal_copy / 'semseg' / 'VOC12')
    _png(pascal_copy / 'semseg' / 'VOC12' / f'{name}.png', np.full((H, W), 7, np.uint8))
    ds = PascalContextMultiTaskDataset(data_root=str(pascal_copy), tasks=['semseg'],
                                       pipeline=LOAD)
    assert ds[0]['label_specs']['semseg']['path'].endswith(os.path.join('VOC12', f'{name}.png'))
    assert (ds[0]['gt_semseg'] == 7).all()
    assert ds[1]['label_specs']['semseg']['path'].endswith(
        os.path.join('pascal-context', '2008_000001.png'))


def test_pascal_missing_label_map_is_reported_for_normals(pascal_copy):
    missing = pascal_copy / 'pascal-context' / 'trainval' / '2008_000002.mat'
    os.remove(missing)
    with pytest.raises(FileNotFoundError, match='2008_000002.mat') as err:
        PascalContextMultiTaskDataset(data_root=str(pascal_copy), tasks=['normals'])
    assert os.path.join('ImageSets', 'Context', 'train.txt') in str(err.value)
    ds = PascalContextMultiTaskDataset(data_root=str(pascal_copy), tasks=['sal', 'semseg'])
    assert len(ds) == 3


def test_pascal_metainfo(pascal_root):
    ds = PascalContextMultiTaskDataset(data_root=str(pascal_root), lazy_init=True)
    meta = ds.metainfo
    assert len(meta['classes']) == 21 and meta['classes'][15] == 'person'
    assert meta['palette'][:3] == [[0, 0, 0], [128, 0, 0], [0, 128, 0]]
    assert meta['human_parts_classes'] == ('background', 'head', 'torso', 'upper arms',
                                           'lower arms', 'upper legs', 'lower legs')
    assert meta['tasks'] == ('semseg', 'human_parts', 'sal', 'normals', 'edge')
    with pytest.raises(ValueError, match='num_human_parts'):
        PascalContextMultiTaskDataset(data_root=str(pascal_root), num_human_parts=5)


# ------------------------------------------------------------------------------------------
# Converters (tools/dataset_converters)
# ------------------------------------------------------------------------------------------
def _load_tool(name):
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'tools',
                        'dataset_converters', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'converter_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nyud_converter_extracts_archive_and_validates(tmp_path, capsys):
    import tarfile

    write_nyud_fixture(tmp_path / 'src' / 'NYUDv2', num_train=2, num_val=1, size=(H, W))
    with tarfile.open(tmp_path / 'NYUDv2.tar.gz', 'w:gz') as tf:
        tf.add(tmp_path / 'src' / 'NYUDv2', arcname='NYUDv2')
    tool = _load_tool('nyud_v2')
    out = tmp_path / 'data'
    assert tool.main([str(tmp_path / 'NYUDv2.tar.gz'), '--out-dir', str(out)]) == 0
    assert sorted(os.listdir(out)) == ['NYUDv2']  # the staging folder is gone
    summary = capsys.readouterr().out
    assert 'train: 2 samples' in summary and 'val: 1 samples' in summary
    assert len(NYUDv2MultiTaskDataset(data_root=str(out / 'NYUDv2'))) == 2

    os.remove(out / 'NYUDv2' / 'normals' / '000002.png')
    assert tool.main([str(out / 'NYUDv2'), '--out-dir', str(out)]) == 1
    assert str(out / 'NYUDv2' / 'normals' / '000002.png') in capsys.readouterr().err


def test_nyud_converter_converts_nyud_mt(tmp_path):
    src = write_nyud_fixture(tmp_path / 'ref', num_train=1, num_val=1, size=(H, W))
    mtl = tmp_path / 'NYUD_MT'
    for folder in ('images', 'segmentation', 'depth', 'normals', 'edge', 'gt_sets'):
        os.makedirs(mtl / folder)
    for name in ('000000', '000001'):
        Image.open(src / 'images' / f'{name}.png').save(mtl / 'images' / f'{name}.jpg')
        for folder, suffix in (('segmentation', '.png'), ('depth', '.npy')):
            (mtl / folder / f'{name}{suffix}').write_bytes(
                (src / folder / f'{name}{suffix}').read_bytes())
        normals = np.asarray(Image.open(src / 'normals' / f'{name}.png')).astype(np.float32)
        np.save(mtl / 'normals' / f'{name}.npy', 2 * normals / 255 - 1)
        edge = np.asarray(Image.open(src / 'edge' / f'{name}.png')) / 255
        np.save(mtl / 'edge' / f'{name}.npy', edge.astype(np.float32))
    for split in ('train', 'val'):
        (mtl / 'gt_sets' / f'{split}.txt').write_text((src / 'gt_sets' / f'{split}.txt')
                                                      .read_text())
    out = tmp_path / 'data'
    assert _load_tool('nyud_v2').main([str(mtl), '--out-dir', str(out)]) == 0
    for folder in ('normals', 'edge', 'segmentation'):
        np.testing.assert_array_equal(np.asarray(Image.open(out / 'NYUDv2' / folder /
                                                            '000001.png')),
                                      np.asarray(Image.open(src / folder / '000001.png')))
    assert Image.open(out / 'NYUDv2' / 'images' / '000001.png').format == 'PNG'


def test_pascal_converter_links_directory(tmp_path, capsys):
    src = write_pascal_fixture(tmp_path / 'PASCAL_MT', num_train=2, num_val=1, size=(H, W))
    out = tmp_path / 'data'
    tool = _load_tool('pascal_context_mt')
    assert tool.main([str(src), '--out-dir', str(out), '--check', '-1']) == 0
    assert os.path.islink(out / 'PASCALContext')
    summary = capsys.readouterr().out
    assert '3 from semseg/pascal-context, 0 from semseg/VOC12' in summary
    assert '1 of 2 checked images have person parts' in summary
    assert tool.main([str(tmp_path / 'nowhere'), '--out-dir', str(out)]) == 1
