"""ONNX export (tools/deployment/pytorch2onnx.py) of every model family, checked in onnxruntime.

Each family is exported from its real config with random weights and run in onnxruntime; the
outputs must match PyTorch's within 1e-4 (relative to the largest magnitude). The families
whose graphs follow the input size (DeMT, MPViT, DAT++, HRFormer pose and OCR) are exported
with ``--dynamic`` and checked at two input sizes; the others (DAT, kMaX-DeepLab) must refuse
``--dynamic`` with the reason.
"""
from __future__ import annotations

import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn

ort = pytest.importorskip('onnxruntime')

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _load_tool():
    path = osp.join(REPO, 'tools', 'deployment', 'pytorch2onnx.py')
    spec = importlib.util.spec_from_file_location('pytorch2onnx', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


P = _load_tool()


def _model(config: str, **options):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, 'configs', config))
    backbone = cfg.model.backbone
    if 'init_cfg' in backbone:
        backbone.init_cfg = None
    torch.manual_seed(0)
    return P.build_model(cfg, cfg_options=options or None)


def _check(model, tmp_path, shape, dynamic=False, other_shapes=(), batch=1):
    out = str(tmp_path / 'model.onnx')
    names = P.export_onnx(model, out, shape, dynamic=dynamic, batch=batch)
    session = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
    assert [o.name for o in session.get_outputs()] == names
    wrapper = P.ExportWrapper(model).eval()
    for size in (shape, *other_shapes):
        torch.manual_seed(1)
        img = torch.rand(batch, 3, *size) * 255
        with torch.no_grad():
            expected = wrapper(img)
        got = session.run(None, {'input': img.numpy()})
        assert len(got) == len(expected)
        for name, e, g in zip(names, expected, got):
            assert g.shape == tuple(e.shape), name
            err = np.abs(g - e.numpy()).max() / np.abs(e.numpy()).max()
            assert err < 1e-4, f'{name} at {size}: relative error {err}'
    return names


def test_matrix_adaptive_pool_equals_torch():
    for size, (h, w) in [(1, (5, 7)), (2, (5, 7)), (3, (16, 16)), (6, (16, 13)),
                         ((6, None), (8, 9))]:
        x = torch.randn(2, 3, h, w, dtype=torch.float64)
        expected = nn.AdaptiveAvgPool2d(size)(x)
        torch.testing.assert_close(P.MatrixAdaptiveAvgPool2d(size)(x), expected)


def test_exportable_copy_leaves_model_unchanged():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Sequential(nn.AdaptiveAvgPool2d(3)))
    copy = P.exportable_copy(model)
    assert isinstance(model[1][0], nn.AdaptiveAvgPool2d)
    assert isinstance(copy[1][0], P.MatrixAdaptiveAvgPool2d)


def test_normalisation_in_graph():
    model = _model('mpvit/upernet_mpvit-t_8xb2-160k_ade20k-512x512.py')
    wrapper = P.ExportWrapper(model)
    img = torch.rand(1, 3, 4, 4) * 255
    pre = model.data_preprocessor
    expected = (img.flip(1) - pre.mean) / pre.std  # ADE20K configs: bgr_to_rgb, ImageNet stats
    torch.testing.assert_close(wrapper.preprocess(img), expected)
    assert not torch.equal(P.ExportWrapper(model, normalize=False).preprocess(img), expected)


def test_rejects_unknown_model_and_small_shape():
    with pytest.raises(TypeError, match='no ONNX export'):
        P.ExportWrapper(nn.Conv2d(3, 3, 1))
    with pytest.raises(ValueError, match='too small'):
        P.check_export_shape(16, 64)


@pytest.mark.slow
def test_mpvit_upernet_dynamic(tmp_path):
    # UperNet's pyramid pooling (adaptive pools) exported as matrices: valid at every size.
    model = _model('mpvit/upernet_mpvit-t_8xb2-160k_ade20k-512x512.py')
    _check(model, tmp_path, (64, 96), dynamic=True, other_shapes=[(96, 64)])
    P.verify_dynamic(model, str(tmp_path / 'model.onnx'), (64, 96))


@pytest.mark.slow
def test_dat_upernet(tmp_path):
    model = _model('dat/upernet_dat-t_8xb2-160k_ade20k-512x512.py')
    _check(model, tmp_path, (64, 96))


@pytest.mark.slow
def test_dat_fpn(tmp_path):
    model = _model('dat/fpn_dat-t_8xb4-40k_ade20k-512x512.py')
    _check(model, tmp_path, (64, 64))


@pytest.mark.slow
def test_datpp_fpn_dynamic(tmp_path):
    # The stride-16 map is 4x6 at 64x96, padded to the 7x7 neighbourhood on both sides, and
    # 6x10 at 96x160, padded in height only: the padding amounts are traced.
    model = _model('dat/fpn_datpp-t_8xb4-40k_ade20k-512x512.py')
    _check(model, tmp_path, (64, 96), dynamic=True, other_shapes=[(96, 160)])


@pytest.mark.slow
def test_demt_one_output_per_task_dynamic(tmp_path):
    # The HRNet fuse layers' mmseg Upsample and the mixers' grid scale are traced sizes.
    model = _model('demt/quickstart_synthetic-nyud.py')
    names = _check(model, tmp_path, (64, 96), dynamic=True, other_shapes=[(96, 64)])
    assert names == list(model.tasks)


@pytest.mark.slow
def test_hrformer_pose_heatmaps_dynamic(tmp_path):
    # Window grids differ between the sizes: 3x4 windows of 7 at stride 4 for 64x96, 4x3 for
    # 96x64, each padded differently.
    model = _model('hrformer/td-hm_hrformer-small_8xb32-210e_coco-256x192.py')
    names = _check(model, tmp_path, (64, 96), dynamic=True, other_shapes=[(96, 64)])
    assert names == ['heatmaps']


@pytest.mark.slow
def test_hrformer_ocr_dynamic(tmp_path):
    model = _model('hrformer/ocrnet_hrformer-s_4xb2-80k_cityscapes-512x1024.py')
    _check(model, tmp_path, (64, 96), dynamic=True, other_shapes=[(96, 64)])


@pytest.mark.slow
def test_kmax_class_and_mask_logits(tmp_path):
    model = _model('kmax/kmax_r50_8xb8-100k_ade20k-panoptic-1281x1281.py')
    assert _check(model, tmp_path, (64, 96)) == ['class_logits', 'mask_logits']


def test_cli_writes_model(tmp_path):
    out = tmp_path / 'dat.onnx'
    code = P.main(['configs/mpvit/upernet_mpvit-t_8xb2-160k_ade20k-512x512.py', 'none',
                   '--shape', '64', '64', '--out', str(out),
                   '--cfg-options', 'model.backbone.init_cfg=None'])
    assert code == 0 and out.is_file()
    assert P.main(['configs/missing.py', 'none', '--shape', '64', '64']) == 2


@pytest.mark.slow
def test_onnx_inference_predicts_as_test_tool(tmp_path):
    import pickle

    from tests.helpers.run_tool import run_tool
    from tests.helpers.seg_fixture import write_seg_config, write_seg_fixture
    data = write_seg_fixture(str(tmp_path / 'data'))
    cfg = write_seg_config(str(tmp_path / 'tiny_fcn.py'), data)
    model = P.build_model(cfg)
    ckpt = str(tmp_path / 'random.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    onnx_file = str(tmp_path / 'fcn.onnx')
    run_tool('tools/deployment/pytorch2onnx.py', cfg, ckpt, '--shape', '32', '48',
             '--out', onnx_file)
    run_tool('tools/test.py', cfg, ckpt, '--work-dir', str(tmp_path / 'w1'),
             '--out', str(tmp_path / 'torch.pkl'))
    proc = run_tool('tools/deployment/onnx_inference.py', cfg, onnx_file,
                    '--work-dir', str(tmp_path / 'w2'), '--out', str(tmp_path / 'onnx.pkl'),
                    '--show-dir', str(tmp_path / 'show'))
    assert 'mIoU' in proc.stdout + proc.stderr
    preds = [pickle.load(open(tmp_path / f, 'rb')) for f in ('torch.pkl', 'onnx.pkl')]
    assert len(preds[0]) == len(preds[1]) == 2
    for a, b in zip(*preds):
        assert torch.equal(a['pred_sem_seg']['data'], b['pred_sem_seg']['data'])
        torch.testing.assert_close(b['seg_logits']['data'], a['seg_logits']['data'],
                                   rtol=1e-4, atol=1e-4)
    assert len(list((tmp_path / 'show').rglob('*.png'))) == 2


@pytest.mark.parametrize('config, reason', [
    ('dat/upernet_dat-t_8xb2-160k_ade20k-512x512.py', 'DAT: its .*window layout and mask'),
    ('kmax/kmax_r50_8xb8-100k_ade20k-panoptic-1281x1281.py', 'KMaXDeepLab: .*parity'),
])
def test_dynamic_export_refused_with_the_reason(tmp_path, config, reason):
    model = _model(config)
    out = tmp_path / 'model.onnx'
    with pytest.raises(ValueError, match=f'--dynamic is not possible for this model, {reason}'):
        P.export_onnx(model, str(out), (64, 96), dynamic=True)
    assert not out.exists()


def test_cli_dynamic_refusal_is_a_one_line_error(tmp_path, capsys):
    code = P.main(['configs/dat/upernet_dat-t_8xb2-160k_ade20k-512x512.py', 'none',
                   '--shape', '64', '64', '--dynamic', '--out', str(tmp_path / 'dat.onnx'),
                   '--cfg-options', 'model.backbone.init_cfg=None'])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith('error: pytorch2onnx: --dynamic is not possible')
    assert 'without --dynamic' in err and not (tmp_path / 'dat.onnx').exists()


@pytest.mark.slow
def test_dat_refusal_is_needed_and_verify_dynamic_catches_it(tmp_path, monkeypatch):
    # Without the refusal, DAT's graph is right at the export size only; verify_dynamic (run
    # by the command line after every --dynamic export) catches such a graph.
    monkeypatch.setattr(P, 'FIXED_SHAPE_REASONS', {})
    model = _model('dat/upernet_dat-t_8xb2-160k_ade20k-512x512.py')
    out = str(tmp_path / 'dat.onnx')
    P.export_onnx(model, out, (64, 96), dynamic=True)
    assert P.max_relative_error(model, out, (64, 96)) < 1e-4
    with pytest.raises(ValueError, match='fixes shapes'):
        P.verify_dynamic(model, out, (64, 96))


def test_scale_upsample_equals_mmseg_upsample():
    from mmseg.models.utils import Upsample
    for scale, mode, align in [(2, 'bilinear', False), (4, 'nearest', None),
                               (1.5, 'bilinear', True)]:
        x = torch.randn(1, 3, 7, 10, dtype=torch.float64)
        expected = Upsample(scale_factor=scale, mode=mode, align_corners=align)(x)
        got = P.ScaleUpsample(scale, mode, align)(x)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected)
    model = nn.Sequential(Upsample(scale_factor=2), Upsample(size=(4, 4)))
    copy = P.exportable_copy(model)
    assert isinstance(copy[0], P.ScaleUpsample) and isinstance(copy[1], Upsample)


def test_dat_reference_points_equal_the_official_formula():
    # Rewritten without linspace and in-place slice writes (which trace wrongly): same bits.
    from mmdense.models.backbones.dat_layers import reference_points
    for h, w in [(1, 1), (7, 9), (16, 32), (33, 65)]:
        ref_y, ref_x = torch.meshgrid(torch.linspace(0.5, h - 0.5, h),
                                      torch.linspace(0.5, w - 0.5, w), indexing='ij')
        expected = torch.stack(((ref_y / h) * 2 - 1, (ref_x / w) * 2 - 1), -1)
        assert torch.equal(reference_points(h, w, torch.float32, torch.device('cpu')), expected)


def test_demt_task_attention_one_block_equals_chunks():
    from mmdense.models.heads.demt.layers import TaskQuery
    torch.manual_seed(0)
    layer = TaskQuery(8, 2, chunk_size=5).eval()
    query, tokens = torch.randn(12, 8), torch.randn(12, 3, 8)
    chunked = layer(query, tokens)
    layer.chunk_size = 64
    torch.testing.assert_close(layer(query, tokens), chunked)
