"""Panoptic datasets and transforms on fixtures in the real COCO / Cityscapes / ADE20K formats."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.registry import DefaultScope

from mmdense.datasets import (
    ADE20K_PANOPTIC_THING_IDS,
)
from mmdense.datasets.transforms.panoptic_transforms import (
    LoadPanopticSegAnnotations,
    PanopticLargeScaleJitter,
    rgb2id,
)
from mmdense.utils import register_all_modules

register_all_modules(init_default_scope=False)

COCO_THING_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
COCO_STUFF_IDS = [92, 93, 95, 100, 107, 109, 112, 118, 119, 122, 125, 128, 130, 133, 138, 141,
                  144, 145, 147, 148, 149, 151, 154, 155, 156, 159, 161, 166, 168, 171, 175, 176,
                  177, 178, 180, 181] + list(range(184, 201))
CITYSCAPES_IDS = [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33]


def id2rgb(ids):
    ids = ids.astype(np.int64)
    return np.stack([ids % 256, ids // 256 % 256, ids // 65536], axis=-1).astype(np.uint8)


def _scene(h, w, stuff_id, thing_ids, crowd_id):
    """Stuff on top, two thing instances and a crowd region below, a void strip on the right."""
    ids = np.zeros((h, w), dtype=np.int64)
    ids[: h // 2, : w - 4] = stuff_id
    ids[h // 2:, : w // 3] = thing_ids[0]
    ids[h // 2:, w // 3: 2 * w // 3] = thing_ids[1]
    ids[h // 2:, 2 * w // 3: w - 4] = crowd_id
    return ids


def _write_image_and_png(img_path, png_path, ids):
    os.makedirs(osp.dirname(img_path), exist_ok=True)
    os.makedirs(osp.dirname(png_path), exist_ok=True)
    rng = np.random.RandomState(abs(hash(img_path)) % 2**31)
    img = rng.randint(0, 255, ids.shape + (3, ), dtype=np.uint8)
    cv2.imwrite(img_path, img)
    cv2.imwrite(png_path, cv2.cvtColor(id2rgb(ids), cv2.COLOR_RGB2BGR))


def _segments(ids, cats):
    out = []
    for seg_id, (cat, crowd) in cats.items():
        ys, xs = np.nonzero(ids == seg_id)
        out.append(dict(id=int(seg_id), category_id=cat, iscrowd=crowd, area=int(len(ys)),
                        bbox=[int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1,
                              int(np.ptp(ys)) + 1]))
    return out


def write_coco_panoptic_fixture(root, split='val2017', num_images=2, size=(48, 64)):
    """COCO panoptic 2017 layout with the 133 real categories."""
    from mmdet.datasets.coco_panoptic import CocoPanopticDataset as MMDetCoco
    names = MMDetCoco.METAINFO['classes']
    categories = [dict(id=cid, name=names[i], isthing=int(i < 80),
                       supercategory='x') for i, cid in enumerate(COCO_THING_IDS + COCO_STUFF_IDS)]
    images, annotations = [], []
    for k in range(num_images):
        # ids above 255 exercise the G and B channels of the encoding
        thing_ids = (3 + 65536 * (k + 1), 260 + k)
        ids = _scene(*size, stuff_id=5000 + k, thing_ids=thing_ids, crowd_id=70000 + k)
        stem = f'{k + 1:012d}'
        _write_image_and_png(osp.join(root, split, stem + '.jpg'),
                             osp.join(root, 'annotations', f'panoptic_{split}', stem + '.png'), ids)
        images.append(dict(id=k + 1, file_name=stem + '.jpg', height=size[0], width=size[1]))
        annotations.append(dict(image_id=k + 1, file_name=stem + '.png', segments_info=_segments(
            ids, {5000 + k: (199, 0), thing_ids[0]: (1, 0), thing_ids[1]: (1, 0),
                  70000 + k: (3, 1)})))
    ann_file = osp.join(root, 'annotations', f'panoptic_{split}.json')
    with open(ann_file, 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    return ann_file


def write_cityscapes_panoptic_fixture(root, split='val', size=(32, 64)):
    from mmseg.datasets import CityscapesDataset
    names = CityscapesDataset.METAINFO['classes']
    categories = [dict(id=cid, name=names[i], isthing=int(i >= 11), color=[0, 0, 0])
                  for i, cid in enumerate(CITYSCAPES_IDS)]
    images, annotations = [], []
    for city, k in (('frankfurt', 0), ('lindau', 1)):
        stem = f'{city}_000000_{k:06d}'
        ids = _scene(*size, stuff_id=7, thing_ids=(26001, 26002), crowd_id=24)
        _write_image_and_png(osp.join(root, 'leftImg8bit', split, city, stem + '_leftImg8bit.png'),
                             osp.join(root, 'gtFine', f'cityscapes_panoptic_{split}',
                                      stem + '_gtFine_panoptic.png'), ids)
        images.append(dict(id=stem, file_name=stem + '_leftImg8bit.png', height=size[0],
                           width=size[1]))
        annotations.append(dict(image_id=stem, file_name=stem + '_gtFine_panoptic.png',
                                segments_info=_segments(ids, {7: (7, 0), 26001: (26, 0),
                                                              26002: (26, 0), 24: (24, 1)})))
    ann_file = osp.join(root, 'gtFine', f'cityscapes_panoptic_{split}.json')
    with open(ann_file, 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    return ann_file


def write_ade20k_panoptic_fixture(root, split='val', size=(40, 40)):
    from mmseg.datasets import ADE20KDataset
    names = ADE20KDataset.METAINFO['classes']
    categories = [dict(id=i, name=n, isthing=int(i in ADE20K_PANOPTIC_THING_IDS))
                  for i, n in enumerate(names)]
    folder = 'validation' if split == 'val' else 'training'
    stem = f'ADE_{split}_00000001'
    ids = _scene(*size, stuff_id=1, thing_ids=(2000, 2001), crowd_id=3000)
    _write_image_and_png(osp.join(root, 'images', folder, stem + '.jpg'),
                         osp.join(root, f'ade20k_panoptic_{split}', stem + '.png'), ids)
    ann = dict(image_id=stem, file_name=stem + '.png', segments_info=_segments(
        ids, {1: (0, 0), 2000: (12, 0), 2001: (12, 0), 3000: (19, 1)}))
    ann_file = osp.join(root, f'ade20k_panoptic_{split}.json')
    with open(ann_file, 'w') as f:
        json.dump(dict(images=[dict(id=stem, file_name=stem + '.jpg', height=size[0],
                                    width=size[1])],
                       annotations=[ann], categories=categories), f)
    return ann_file


PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPanopticSegAnnotations'),
    dict(type='PackPanopticInputs'),
]


def _build(cfg):
    from mmdense.registry import DATASETS
    with DefaultScope.overwrite_default_scope('mmdense'):
        return DATASETS.build(cfg)


def test_rgb2id():
    assert rgb2id(np.array([[[1, 2, 3]]], dtype=np.uint8))[0, 0] == 1 + 2 * 256 + 3 * 65536


def test_coco_panoptic_dataset(tmp_path):
    write_coco_panoptic_fixture(str(tmp_path))
    ds = _build(dict(type='CocoPanopticDataset', data_root=str(tmp_path),
                     ann_file='annotations/panoptic_val2017.json',
                     data_prefix=dict(img_path='val2017/',
                                      seg_map_path='annotations/panoptic_val2017/'),
                     pipeline=PIPELINE, test_mode=True))
    assert len(ds) == 2
    assert ds.metainfo['thing_class_ids'] == tuple(range(80))
    assert len(ds.metainfo['stuff_classes']) == 53
    info = ds.get_data_info(0)
    assert osp.isfile(info['img_path']) and osp.isfile(info['seg_map_path'])
    labels = {s['id']: (s['category'], s['iscrowd'], s['is_thing']) for s in info['segments_info']}
    assert labels[5000] == (131, 0, False)  # wall-other-merged, the 132nd category
    assert labels[65539] == (0, 0, True)  # person
    assert labels[70000] == (2, 1, True)  # crowd car

    sample = ds[0]['data_samples']
    ids = sample.gt_panoptic_seg.sem_seg
    assert ids.shape == (1, 48, 64)
    assert set(ids.unique().tolist()) == {0, 5000, 65539, 260, 70000}
    sem = sample.gt_sem_seg.data[0]
    assert bool((sem[ids[0] == 0] == 255).all()) and bool((sem[ids[0] == 5000] == 131).all())
    assert sample.metainfo['segments_info'] == info['segments_info']


def test_cityscapes_and_ade20k_panoptic_datasets(tmp_path):
    write_cityscapes_panoptic_fixture(str(tmp_path / 'cs'))
    ds = _build(dict(type='CityscapesPanopticDataset', data_root=str(tmp_path / 'cs'),
                     ann_file='gtFine/cityscapes_panoptic_val.json',
                     data_prefix=dict(img_path='leftImg8bit/val',
                                      seg_map_path='gtFine/cityscapes_panoptic_val'),
                     pipeline=PIPELINE, test_mode=True))
    assert len(ds) == 2 and ds.metainfo['thing_class_ids'] == tuple(range(11, 19))
    info = ds.get_data_info(1)
    assert info['img_path'].endswith('leftImg8bit/val/lindau/lindau_000000_000001_leftImg8bit.png')
    assert {s['id']: s['category'] for s in info['segments_info']} == {
        7: 0, 26001: 13, 26002: 13, 24: 11}
    assert ds[1]['data_samples'].gt_panoptic_seg.sem_seg.shape == (1, 32, 64)

    write_ade20k_panoptic_fixture(str(tmp_path / 'ade'))
    ds = _build(dict(type='ADE20KPanopticDataset', data_root=str(tmp_path / 'ade'),
                     ann_file='ade20k_panoptic_val.json',
                     data_prefix=dict(img_path='images/validation',
                                      seg_map_path='ade20k_panoptic_val'),
                     pipeline=PIPELINE, test_mode=True))
    assert ds.metainfo['thing_class_ids'] == ADE20K_PANOPTIC_THING_IDS
    assert len(ds.metainfo['thing_classes']) == 100 and len(ds.metainfo['stuff_classes']) == 50
    assert ds[0]['data_samples'].gt_panoptic_seg.sem_seg.shape == (1, 40, 40)


def test_training_filters_images_without_segments(tmp_path):
    ann_file = write_coco_panoptic_fixture(str(tmp_path))
    with open(ann_file) as f:
        data = json.load(f)
    for seg in data['annotations'][1]['segments_info']:
        seg['iscrowd'] = 1
    with open(ann_file, 'w') as f:
        json.dump(data, f)
    cfg = dict(type='CocoPanopticDataset', data_root=str(tmp_path),
               ann_file='annotations/panoptic_val2017.json',
               data_prefix=dict(img_path='val2017/', seg_map_path='annotations/panoptic_val2017/'))
    assert len(_build(dict(cfg, test_mode=False))) == 1
    assert len(_build(dict(cfg, test_mode=True))) == 2


def test_bad_annotations_name_the_file(tmp_path):
    ann_file = write_coco_panoptic_fixture(str(tmp_path))
    cfg = dict(type='CocoPanopticDataset', data_root=str(tmp_path),
               ann_file='annotations/panoptic_val2017.json',
               data_prefix=dict(img_path='val2017/', seg_map_path='annotations/panoptic_val2017/'),
               pipeline=PIPELINE, test_mode=True)
    with open(ann_file) as f:
        good = json.load(f)

    bad = json.loads(json.dumps(good))
    bad['annotations'][0]['segments_info'][0]['category_id'] = 91
    with open(ann_file, 'w') as f:
        json.dump(bad, f)
    with pytest.raises(ValueError, match=r'panoptic_val2017\.json.*000000000001\.png.*91'):
        _build(cfg)

    bad = json.loads(json.dumps(good))
    bad['annotations'][0]['segments_info'][1]['id'] = 424242
    with open(ann_file, 'w') as f:
        json.dump(bad, f)
    ds = _build(cfg)
    with pytest.raises(ValueError, match=r'000000000001\.png: segment ids \[424242\]'):
        ds[0]
    with pytest.raises(FileNotFoundError, match='nothing.json'):
        _build(dict(cfg, ann_file='annotations/nothing.json'))
    bad = json.loads(json.dumps(good))
    bad['categories'] = bad['categories'][:100]
    with open(ann_file, 'w') as f:
        json.dump(bad, f)
    with pytest.raises(ValueError, match='100 categories, but CocoPanopticDataset expects 133'):
        _build(cfg)


def test_large_scale_jitter_and_flip(tmp_path):
    write_coco_panoptic_fixture(str(tmp_path), size=(60, 80))
    results = dict(img_path=str(tmp_path / 'val2017' / '000000000001.jpg'),
                   seg_map_path=str(tmp_path / 'annotations' / 'panoptic_val2017' /
                                    '000000000001.png'),
                   segments_info=[dict(id=i, category=0, iscrowd=0)
                                  for i in (5000, 65539, 260, 70000)])
    from mmcv.transforms import LoadImageFromFile
    results = LoadPanopticSegAnnotations()(LoadImageFromFile()(results))
    original_ids = set(np.unique(results['gt_panoptic_seg']).tolist())
    np.random.seed(0)
    lsj = PanopticLargeScaleJitter(crop_size=(32, 48), ratio_range=(0.5, 2.0))
    for _ in range(10):
        out = lsj(dict(results, seg_fields=list(results['seg_fields'])))
        h, w = out['img'].shape[:2]
        assert h <= 32 and w <= 48 and out['img_shape'] == (h, w)
        assert out['gt_panoptic_seg'].shape == (h, w) == out['gt_seg_map'].shape
        assert set(np.unique(out['gt_panoptic_seg']).tolist()) <= original_ids
        sx, sy = out['scale_factor']
        assert 0.5 * min(32 / 60, 48 / 80) - 0.02 <= sx <= 2.0 * min(32 / 60, 48 / 80) + 0.02
    with pytest.raises(ValueError, match='ratio_range'):
        PanopticLargeScaleJitter(crop_size=(32, 32), ratio_range=(2.0, 1.0))


def test_copy_paste_pastes_things_and_negates_ids(tmp_path):
    write_coco_panoptic_fixture(str(tmp_path), num_images=2, size=(48, 64))
    np.random.seed(1)
    ds = _build(dict(
        type='MultiImageMixDataset',
        dataset=dict(type='CocoPanopticDataset', data_root=str(tmp_path),
                     ann_file='annotations/panoptic_val2017.json',
                     data_prefix=dict(img_path='val2017/',
                                      seg_map_path='annotations/panoptic_val2017/'),
                     pipeline=[dict(type='LoadImageFromFile'),
                               dict(type='LoadPanopticSegAnnotations')]),
        # no per-image augmentation and a larger canvas: the result is predictable
        pipeline=[dict(type='PanopticCopyPaste', crop_size=(50, 70), main_pipeline=[],
                       paste_pipeline=[])]))
    main_ids = rgb2id(cv2.imread(ds.dataset.get_data_info(0)['seg_map_path'])[..., ::-1])
    for _ in range(6):
        out = ds[0]
        ids = out['gt_panoptic_seg']
        assert ids.shape == (50, 70) and out['img'].shape == (50, 70, 3)
        assert out['img'].dtype == np.float32
        assert (ids[48:] == 0).all() and (out['img'][48:] == 127.5).all()  # padding
        pasted = {s['id']: s for s in out['segments_info'] if s['id'] < 0}
        assert set(np.unique(ids).tolist()) - {0} <= {s['id'] for s in out['segments_info']}
        # the pasted image is image j; both of its person instances are always pasted, its
        # crowd region never, its stuff sometimes
        j = 0 if -260 in pasted else 1
        things = {-(3 + 65536 * (j + 1)), -(260 + j)}
        assert {i for i, s in pasted.items() if s['is_thing']} == things
        assert set(pasted) - things <= {-(5000 + j)}
        paste_ids = rgb2id(cv2.imread(ds.dataset.get_data_info(j)['seg_map_path'])[..., ::-1])
        for seg_id in pasted:
            assert (ids[:48, :64][paste_ids == -seg_id] == seg_id).all()
        untouched = ~np.isin(paste_ids, [-i for i in pasted])
        assert (ids[:48, :64][untouched] == main_ids[untouched]).all()
    with pytest.raises(ValueError, match='MultiImageMixDataset'):
        ds.pipeline[0](dict(img=np.zeros((4, 4, 3), np.uint8)))


def test_panoptic_visualizer_draws_gt_and_prediction(tmp_path):
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from mmdense.visualization import PanopticLocalVisualizer
    vis = PanopticLocalVisualizer(vis_backends=[dict(type='LocalVisBackend')],
                                  save_dir=str(tmp_path), name='kmax_vis_test')
    vis.dataset_meta = dict(classes=('person', 'road', 'car'),
                            palette=[[220, 20, 60], [128, 64, 128], [0, 0, 142]])
    ids = torch.tensor([[[1, 1, 2, 2], [1, 1, 2, 2], [0, 0, 2, 2]]]).repeat_interleave(
        8, 1).repeat_interleave(8, 2)
    sample = SegDataSample(metainfo=dict(segments_info=[
        dict(id=1, category=0, iscrowd=0, is_thing=True),
        dict(id=2, category=1, iscrowd=0, is_thing=False)]))
    sample.gt_panoptic_seg = PixelData(sem_seg=ids)
    sample.pred_panoptic_seg = PixelData(sem_seg=torch.where(ids == 1, 1000, torch.where(
        ids == 2, 1, 3)))
    image = np.zeros((24, 32, 3), dtype=np.uint8)
    out_file = str(tmp_path / 'vis.png')
    vis.add_datasample('img', image, sample, out_file=out_file)
    drawn = cv2.imread(out_file)
    assert drawn.shape == (24, 64, 3)
    assert drawn[4, 4].any() and drawn[4, 36].any()  # painted segments on both panels
    assert not drawn[20, 4].any()  # void stays as the image
