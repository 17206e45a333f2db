"""MultiTaskEncoderDecoder and MultiTaskDataPreProcessor."""
import copy

import pytest
import torch
import torch.nn as nn
from mmengine.structures import PixelData

from mmdense.models.data_preprocessors import MultiTaskDataPreProcessor
from mmdense.registry import MODELS
from mmdense.structures import MultiTaskDataSample

TINY_HRNET = dict(type='HRNet', extra=dict(
    stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1, ),
                num_channels=(8, )),
    stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(1, 1),
                num_channels=(4, 8)),
    stage3=dict(num_modules=1, num_branches=3, block='BASIC', num_blocks=(1, 1, 1),
                num_channels=(4, 8, 16)),
    stage4=dict(num_modules=1, num_branches=4, block='BASIC', num_blocks=(1, 1, 1, 1),
                num_channels=(4, 8, 16, 32))))
NYUD_LOSSES = dict(
    semseg=dict(type='DenseCrossEntropyLoss'),
    depth=dict(type='MaskedL1Loss'),
    normals=dict(type='MaskedL1Loss', normalize=True, loss_weight=10.0),
    edge=dict(type='BalancedBinaryCrossEntropyLoss', pos_weight=0.8, loss_weight=50.0))
PASCAL_LOSSES = dict(
    semseg=dict(type='DenseCrossEntropyLoss'),
    human_parts=dict(type='DenseCrossEntropyLoss', loss_weight=2.0),
    sal=dict(type='DenseCrossEntropyLoss', balanced=True, loss_weight=5.0),
    normals=dict(type='MaskedL1Loss', normalize=True, loss_weight=10.0),
    edge=dict(type='BalancedBinaryCrossEntropyLoss', pos_weight=0.95, loss_weight=50.0))
CHANNELS = dict(semseg=5, depth=1, normals=3, edge=1, human_parts=7, sal=2)
PREPROCESSOR = dict(type='MultiTaskDataPreProcessor', mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375], bgr_to_rgb=True, size_divisor=32)


def demt_model(losses, **kwargs):
    tasks = list(losses)
    cfg = dict(type='MultiTaskEncoderDecoder', backbone=TINY_HRNET,
               decode_head=dict(type='DeMTHead', in_channels=[4, 8, 16, 32], tasks=tasks,
                                task_channels={t: CHANNELS.get(t, 1) for t in tasks},
                                channels=16),
               losses=copy.deepcopy(losses), data_preprocessor=PREPROCESSOR)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def make_sample(tasks, h, w, seed=0, **meta):
    g = torch.Generator().manual_seed(seed)
    sample = MultiTaskDataSample()
    sample.set_metainfo(dict(ori_shape=(h, w), img_shape=(h, w), tasks=list(tasks), **meta))
    gts = dict(
        semseg=lambda: torch.randint(0, CHANNELS['semseg'], (1, h, w), generator=g),
        human_parts=lambda: torch.randint(0, 7, (1, h, w), generator=g),
        sal=lambda: torch.randint(0, 2, (1, h, w), generator=g),
        edge=lambda: (torch.rand(1, h, w, generator=g) > 0.8).long(),
        depth=lambda: 0.5 + 3 * torch.rand(1, h, w, generator=g),
        normals=lambda: nn.functional.normalize(torch.randn(3, h, w, generator=g), dim=0))
    for t in tasks:
        sample.set_gt(t, PixelData(data=gts[t]()))
    return sample


def make_batch(tasks, sizes, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = [torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8) for h, w in sizes]
    samples = [make_sample(tasks, h, w, seed=seed + i) for i, (h, w) in enumerate(sizes)]
    return dict(inputs=inputs, data_samples=samples)


@MODELS.register_module(force=True)
class _PassThroughBackbone(nn.Module):

    def forward(self, x):
        return [x]


@MODELS.register_module(force=True)
class _PixelHead(nn.Module):
    """Logits read straight from the input pixels, so predictions are predictable."""
    tasks = ['semseg', 'depth', 'normals', 'edge', 'sal']

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, feats):
        x = feats[0] * self.scale
        return dict(semseg=x, depth=x[:, :1], normals=x, edge=x[:, 1:2], sal=x[:, :2])


def pixel_model(**kwargs):
    losses = {t: dict(type='MaskedL1Loss') for t in _PixelHead.tasks}
    kwargs.setdefault('data_preprocessor', dict(type='MultiTaskDataPreProcessor'))
    return MODELS.build(dict(type='MultiTaskEncoderDecoder',
                             backbone=dict(type='_PassThroughBackbone'),
                             decode_head=dict(type='_PixelHead'), losses=losses, **kwargs))


# -------------------------------------------------------------------------------------- tests
def test_loss_predict_and_tensor_modes():
    # Seeded: with 16 channels, some initialisations give all-zero ReLU features, hence zero
    # normal vectors, at a few pixels (the test then depended on the tests run before it).
    torch.manual_seed(0)
    tasks = list(NYUD_LOSSES)
    model = demt_model(NYUD_LOSSES)
    data = model.data_preprocessor(make_batch(tasks, [(40, 50), (33, 64)]), True)
    assert data['inputs'].shape == (2, 3, 64, 64)
    losses = model(**data, mode='loss')
    assert sorted(losses) == sorted(f'loss_{t}' for t in tasks)
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(make_batch(tasks, [(40, 50), (33, 64)]), False)
        logits = model(**data, mode='tensor')
        assert {t: v.shape for t, v in logits.items()} == {
            t: (2, CHANNELS[t], 16, 16) for t in tasks}
        samples = model(**data, mode='predict')
    for sample, (h, w) in zip(samples, [(40, 50), (33, 64)]):
        assert sample.tasks == tasks
        semseg = sample.get_pred('semseg').data
        assert semseg.shape == (1, h, w) and semseg.dtype == torch.int64
        assert 0 <= semseg.min() and semseg.max() < CHANNELS['semseg']
        assert sample.get_pred('depth').data.shape == (1, h, w)
        assert sample.get_pred('depth').data.min() >= 0
        normals = sample.get_pred('normals').data
        torch.testing.assert_close(normals.norm(dim=0), torch.ones(h, w))
        edge = sample.get_pred('edge').data
        assert edge.shape == (1, h, w) and 0 <= edge.min() and edge.max() <= 1
        # Ground truth stays at its own size in testing.
        assert sample.gt_semseg.shape == (h, w)


def test_pascal_predictions():
    tasks = list(PASCAL_LOSSES)
    model = demt_model(PASCAL_LOSSES).eval()
    with torch.no_grad():
        data = model.data_preprocessor(make_batch(tasks, [(32, 32)]), False)
        sample = model(**data, mode='predict')[0]
        logits = model(**data, mode='tensor')
    sal = sample.get_pred('sal').data
    assert sal.shape == (1, 32, 32)
    expected = nn.functional.interpolate(logits['sal'], size=(32, 32), mode='bilinear').softmax(1)
    torch.testing.assert_close(sal, expected[0, 1:])
    parts = sample.get_pred('human_parts').data
    assert parts.dtype == torch.int64 and parts.max() < 7


def test_predictions_undo_padding_flip_and_resize():
    model = pixel_model().eval()
    g = torch.Generator().manual_seed(0)
    original = torch.rand(3, 5, 6, generator=g) + 0.1
    # The pipeline flipped the image and padded it by (left 1, right 0, top 2, bottom 1).
    image = nn.functional.pad(original.flip(-1), (1, 0, 2, 1), value=-5.0)
    sample = MultiTaskDataSample()
    sample.set_metainfo(dict(ori_shape=(5, 6), padding_size=(1, 0, 2, 1), flip=True,
                             flip_direction='horizontal'))
    data = model.data_preprocessor(dict(inputs=[image], data_samples=[sample]), False)
    with torch.no_grad():
        pred = model(**data, mode='predict')[0]
    torch.testing.assert_close(pred.get_pred('depth').data, original[:1])
    normals = nn.functional.normalize(original * torch.tensor([-1.0, 1, 1]).view(3, 1, 1), dim=0)
    torch.testing.assert_close(pred.get_pred('normals').data, normals)
    torch.testing.assert_close(pred.get_pred('edge').data, original[1:2].sigmoid())
    torch.testing.assert_close(pred.get_pred('semseg').data, original.argmax(0, keepdim=True))

    # Without flip/padding but with a smaller original size: bilinear resize to ori_shape.
    sample = MultiTaskDataSample()
    sample.set_metainfo(dict(ori_shape=(10, 12)))
    data = model.data_preprocessor(dict(inputs=[original], data_samples=[sample]), False)
    with torch.no_grad():
        pred = model(**data, mode='predict')[0]
    expected = nn.functional.interpolate(original[None, :1], size=(10, 12), mode='bilinear')
    torch.testing.assert_close(pred.get_pred('depth').data, expected[0])


def test_slide_inference_averages_windows():
    image = torch.rand(2, 3, 13, 17)
    whole = pixel_model().whole_inference(image)
    slide = pixel_model(test_cfg=dict(mode='slide', crop_size=(6, 8), stride=(4, 5)))
    out = slide.slide_inference(image)
    for t in whole:  # a per-pixel model gives the same logits in every window
        torch.testing.assert_close(out[t], whole[t])
    # A real model: windows covering the whole image reproduce whole inference.
    model = demt_model(NYUD_LOSSES).eval()
    big = demt_model(NYUD_LOSSES, test_cfg=dict(mode='slide', crop_size=(64, 64),
                                                stride=(32, 32))).eval()
    big.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 32, 48)
    with torch.no_grad():
        a, b = model.inference(x), big.inference(x)
    for t in a:
        torch.testing.assert_close(a[t], b[t])
    with pytest.raises(KeyError, match='crop_size'):
        pixel_model(test_cfg=dict(mode='slide')).slide_inference(image)


def test_preprocessor_normalises_and_pads_labels_with_ignore_values():
    pre = MultiTaskDataPreProcessor(mean=[1.0, 2.0, 3.0], std=[2.0, 2.0, 2.0], bgr_to_rgb=True,
                                    size_divisor=8, pad_val=0)
    tasks = ['semseg', 'depth', 'normals', 'edge']
    img = torch.arange(3 * 3 * 5, dtype=torch.uint8).view(3, 3, 5)
    data = dict(inputs=[img, torch.zeros(3, 6, 9, dtype=torch.uint8)],
                data_samples=[make_sample(tasks, 3, 5), make_sample(tasks, 6, 9, seed=1)])
    out = pre(copy.deepcopy(data), training=True)
    inputs, samples = out['inputs'], out['data_samples']
    assert inputs.shape == (2, 3, 8, 16)
    expected = (img.flip(0).float() - torch.tensor([1.0, 2, 3]).view(3, 1, 1)) / 2
    torch.testing.assert_close(inputs[0, :, :3, :5], expected)
    assert torch.all(inputs[0, :, 3:] == 0) and torch.all(inputs[0, :, :, 5:] == 0)
    first = samples[0]
    assert first.batch_input_shape == (8, 16) and first.padding_size == (0, 11, 0, 5)
    assert first.gt_semseg.shape == (8, 16)
    assert torch.all(first.gt_semseg.data[:, 3:] == 255)
    assert torch.all(first.gt_edge.data[:, :, 5:] == 255)
    assert torch.all(first.gt_depth.data[:, 3:] == 0)
    assert torch.all(first.gt_normals.data[:, :, 5:] == 0)
    torch.testing.assert_close(first.gt_depth.data[:, :3, :5],
                               data['data_samples'][0].gt_depth.data)
    # Testing: images padded, labels untouched.
    out = pre(copy.deepcopy(data), training=False)
    assert out['data_samples'][0].gt_semseg.shape == (3, 5)
    assert out['data_samples'][0].padding_size == (0, 11, 0, 5)

    with pytest.raises(ValueError, match='both'):
        MultiTaskDataPreProcessor(mean=[0.0])
    bad = make_sample(['semseg'], 3, 5)
    bad.gt_semseg = PixelData(data=torch.zeros(1, 4, 5))
    with pytest.raises(ValueError, match='gt_semseg'):
        pre(dict(inputs=[img], data_samples=[bad]), training=True)


def test_preprocessor_centre_padding_and_crop_back():
    """pad_mode='center' (the official DeMT PadImage): the margin is split with the odd pixel
    at the bottom/right, labels are padded the same way in training, and predictions are cut
    back out of the centre."""
    pre = MultiTaskDataPreProcessor(mean=[0.0, 0, 0], std=[1.0, 1, 1], size=(8, 12),
                                    pad_mode='center')
    tasks = ['semseg', 'depth']
    img = torch.arange(1, 3 * 3 * 5 + 1, dtype=torch.uint8).view(3, 3, 5)
    data = dict(inputs=[img], data_samples=[make_sample(tasks, 3, 5)])
    out = pre(copy.deepcopy(data), training=True)
    x, sample = out['inputs'][0], out['data_samples'][0]
    # 5 rows and 7 columns of margin: top 2, bottom 3, left 3, right 4
    assert x.shape == (3, 8, 12) and sample.padding_size == (3, 4, 2, 3)
    torch.testing.assert_close(x[:, 2:5, 3:8], img.float())
    assert int((x != 0).sum()) == img.numel()  # every other pixel is the pad value
    semseg = sample.gt_semseg.data[0]
    assert torch.equal(semseg[2:5, 3:8], data['data_samples'][0].gt_semseg.data[0])
    assert int((semseg != 255).sum()) == 15
    assert torch.equal(sample.gt_depth.data[0, 2:5, 3:8],
                       data['data_samples'][0].gt_depth.data[0])
    # Predictions (here the input pixels themselves) come back from the centre.
    model = pixel_model(data_preprocessor=dict(type='MultiTaskDataPreProcessor', size=(8, 12),
                                               pad_mode='center'))
    data = dict(inputs=[img], data_samples=[make_sample(tasks, 3, 5)])
    with torch.no_grad():
        [pred] = model.test_step(data)
    torch.testing.assert_close(pred.pred_depth.data, img[:1].float())
    with pytest.raises(ValueError, match='pad_mode'):
        MultiTaskDataPreProcessor(pad_mode='same')


def test_a_few_training_steps_reduce_the_loss():
    torch.manual_seed(0)
    tasks = list(NYUD_LOSSES)
    model = demt_model(NYUD_LOSSES)
    optim = torch.optim.Adam(model.parameters(), lr=3e-3)
    batch = make_batch(tasks, [(32, 32), (32, 32)], seed=3)
    for sample in batch['data_samples']:  # learnable labels: a fixed layout per task
        sample.gt_semseg.data[:] = 1
        sample.gt_semseg.data[:, :, :16] = 3
        sample.gt_depth.data[:] = 2.0
        sample.gt_normals.data[:] = torch.tensor([0.0, 0.6, 0.8]).view(3, 1, 1)
        sample.gt_edge.data[:] = 0
        sample.gt_edge.data[:, :, 15:17] = 1
    history = []
    for _ in range(10):
        data = model.data_preprocessor(copy.deepcopy(batch), True)
        losses = model(**data, mode='loss')
        total = sum(losses.values())
        optim.zero_grad()
        total.backward()
        optim.step()
        history.append(total.item())
    assert history[-1] < 0.7 * history[0], history


def test_configuration_errors():
    with pytest.raises(ValueError, match='missing'):
        demt_model(dict(semseg=dict(type='DenseCrossEntropyLoss')),
                   decode_head=dict(type='DeMTHead', in_channels=[4, 8, 16, 32],
                                    tasks=['semseg', 'depth'], task_channels=CHANNELS,
                                    channels=16))
    with pytest.raises(ValueError, match='TASK_SPECS'):
        demt_model(dict(foo=dict(type='MaskedL1Loss')),
                   decode_head=dict(type='DeMTHead', in_channels=[4, 8, 16, 32],
                                    tasks=['foo'], task_channels=dict(foo=1), channels=16))
    model = demt_model(dict(semseg=dict(type='DenseCrossEntropyLoss')))
    data = model.data_preprocessor(make_batch(['depth'], [(64, 64)]), True)
    with pytest.raises(KeyError, match='gt_semseg'):
        model(**data, mode='loss')
    with pytest.raises(ValueError, match="'whole' or 'slide'"):
        demt_model(NYUD_LOSSES, test_cfg=dict(mode='tiles'))


def test_pipeline_and_batch_padding_make_one_record_cut_from_the_centre():
    """MultiTaskPad (pipeline) and the preprocessor (batch) both pad, centred: padding_size
    (left, right, top, bottom) holds their sum and predictions come back exactly."""
    from mmdense.datasets.transforms import MultiTaskPad
    g = torch.Generator().manual_seed(0)
    original = torch.randint(1, 256, (3, 5, 7), generator=g, dtype=torch.uint8)
    results = MultiTaskPad(size=(8, 8), center=True)(
        dict(img=original.permute(1, 2, 0).numpy(), task_fields=[]))
    assert results['padding_size'] == (0, 1, 1, 2)
    sample = MultiTaskDataSample()
    sample.set_metainfo(dict(ori_shape=(5, 7), padding_size=results['padding_size']))
    padded = torch.from_numpy(results['img']).permute(2, 0, 1)
    model = pixel_model(data_preprocessor=dict(type='MultiTaskDataPreProcessor', size=(11, 14),
                                               pad_mode='center')).eval()
    data = model.data_preprocessor(dict(inputs=[padded], data_samples=[sample]), False)
    assert data['data_samples'][0].padding_size == (0 + 3, 1 + 3, 1 + 1, 2 + 2)
    with torch.no_grad():
        [pred] = model(**data, mode='predict')
    assert torch.equal(pred.pred_depth.data, original[:1].float())
    assert torch.equal(pred.pred_semseg.data, original.float().argmax(0, keepdim=True))


def test_checkpoints_with_the_old_head_name_load():
    """Earlier mmdense versions saved the decode head as `head.*` (mmengine checkpoints, the
    DeMT converter's output): they load into `decode_head.*`, BN version records included."""
    torch.manual_seed(0)
    saved = demt_model(NYUD_LOSSES).state_dict()
    assert any(k.startswith('decode_head.') for k in saved)
    old = type(saved)((('head.' + k[len('decode_head.'):]) if k.startswith('decode_head.')
                       else k, v) for k, v in saved.items())
    old._metadata = type(saved._metadata)(
        (('head' + k[len('decode_head'):]) if k.startswith('decode_head') else k, v)
        for k, v in saved._metadata.items())
    assert not any(k.startswith('decode_head') for k in old)

    torch.manual_seed(1)
    model = demt_model(NYUD_LOSSES)
    model.load_state_dict(old, strict=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key
    assert list(old) == [k.replace('decode_head.', 'head.', 1) for k in saved]  # not modified


def test_checkpoint_files_with_the_old_head_name_load(tmp_path):
    from mmengine.runner import load_checkpoint
    torch.manual_seed(0)
    saved = demt_model(NYUD_LOSSES).state_dict()
    old = {('head.' + k[len('decode_head.'):]) if k.startswith('decode_head.') else k: v
           for k, v in saved.items()}  # a plain dict, as the old DeMT converter wrote
    torch.save(dict(meta=dict(tasks=list(NYUD_LOSSES)), state_dict=old), tmp_path / 'old.pth')
    torch.manual_seed(1)
    model = demt_model(NYUD_LOSSES)
    load_checkpoint(model, str(tmp_path / 'old.pth'), strict=True)
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key


FCN_AUX = dict(type='FCNHead', in_channels=32, in_index=3, channels=8, num_convs=1,
               concat_input=False, dropout_ratio=0.0, num_classes=5, task='semseg',
               loss_decode=dict(type='CrossEntropyLoss', loss_weight=0.4))


def test_auxiliary_head_trains_on_its_task_and_is_unused_at_inference():
    torch.manual_seed(0)
    tasks = list(NYUD_LOSSES)
    model = demt_model(NYUD_LOSSES, auxiliary_head=FCN_AUX)
    assert model.with_auxiliary_head and model.with_decode_head and not model.with_neck
    assert model.auxiliary_tasks == ['semseg']
    assert 'task' in FCN_AUX  # the config is not modified
    data = model.data_preprocessor(make_batch(tasks, [(40, 50), (33, 64)]), True)
    losses = model(**copy.deepcopy(data), mode='loss')
    assert list(losses) == [f'loss_{t}' for t in tasks] + ['aux.loss_ce', 'aux.acc_seg']
    # mmseg's loss: cross-entropy on the semseg labels (255 = padding), mean over all pixels.
    feats = model.extract_feat(data['inputs'])
    gt = torch.stack([s.gt_semseg.data for s in data['data_samples']])[:, 0]
    logits = nn.functional.interpolate(model.auxiliary_head(feats), size=gt.shape[-2:],
                                       mode='bilinear')
    expected = 0.4 * nn.functional.cross_entropy(logits, gt, ignore_index=255,
                                                 reduction='none').mean()
    torch.testing.assert_close(losses['aux.loss_ce'], expected)
    # It trains with the rest: its loss is in the total and its weights get gradients.
    total, log_vars = model.parse_losses(losses)
    torch.testing.assert_close(total, sum(v for k, v in losses.items() if 'loss' in k))
    assert 'aux.loss_ce' in log_vars
    total.backward()
    assert model.auxiliary_head.conv_seg.weight.grad.abs().sum() > 0
    # Inference reads the decode head only.
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(make_batch(tasks, [(32, 32)]), False)
        before = model(**copy.deepcopy(data), mode='predict')[0]
        model.auxiliary_head.conv_seg.weight.zero_()
        after = model(**copy.deepcopy(data), mode='predict')[0]
        assert set(model(**data, mode='tensor')) == set(tasks)
    assert torch.equal(before.pred_semseg.data, after.pred_semseg.data)


def test_several_auxiliary_heads_and_a_loss_balancer():
    torch.manual_seed(0)
    tasks = list(NYUD_LOSSES)
    edge_aux = dict(FCN_AUX, in_index=2, in_channels=16, num_classes=2, task='edge',
                    loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0))
    model = demt_model(NYUD_LOSSES, auxiliary_head=[FCN_AUX, edge_aux],
                       loss_balancer=dict(type='FixedWeights', weights=dict(edge=0.5)))
    assert isinstance(model.auxiliary_head, nn.ModuleList)
    assert model.auxiliary_tasks == ['semseg', 'edge']
    data = model.data_preprocessor(make_batch(tasks, [(32, 32), (32, 32)]), True)
    losses = model(**data, mode='loss')
    assert {'aux_0.loss_ce', 'aux_1.loss_ce'} <= set(losses)
    total, log_vars = model.parse_losses(losses)
    expected = sum(losses[f'loss_{t}'] * (0.5 if t == 'edge' else 1.0) for t in tasks)
    expected = expected + losses['aux_0.loss_ce'] + losses['aux_1.loss_ce']
    torch.testing.assert_close(total, expected)
    torch.testing.assert_close(log_vars['loss'], expected.detach())
    assert 'aux_1.loss_ce' in log_vars and 'w_edge' in log_vars


def test_auxiliary_head_needs_a_task_of_the_model():
    with pytest.raises(ValueError, match='needs `task`'):
        demt_model(NYUD_LOSSES, auxiliary_head={k: v for k, v in FCN_AUX.items() if k != 'task'})
    with pytest.raises(ValueError, match="'sal'"):
        demt_model(NYUD_LOSSES, auxiliary_head=dict(FCN_AUX, task='sal'))
