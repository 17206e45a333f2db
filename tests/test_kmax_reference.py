"""kMaX-DeepLab decoder against the official model's reference facts (keys, counts, outputs).

The official decoder initialises itself in its constructors; mmdense's does the same, in the
same order, so ``torch.manual_seed(0)`` gives the official weights and the reference output
statistics (``output_stats`` of the keys.json files) must be reproduced.
"""
import pytest
import torch

from mmdense.models.heads.kmax import KMaXHead
from mmdense.models.segmentors.kmax_deeplab_checkpoint import convert_kmax_state_dict
from tests.helpers.reference import load_reference

BN = dict(type='BN', eps=1e-3, momentum=0.01)


def _official_head(seed=0):
    torch.manual_seed(seed)
    # The reference was built from kmax_r50.yaml: TRANS_DEC.DROP_PATH_PROB 0.2 (eval: no effect).
    return KMaXHead(num_classes=133, norm_cfg=BN,
                    transformer_decoder=dict(type='KMaXTransformerDecoder', drop_path_rate=0.2))


@pytest.fixture(scope='module')
def head():
    return _official_head()


def test_parameter_counts(head):
    ref = load_reference('kmax_decoder_coco_r50')

    def count(m):
        return sum(p.numel() for p in m.parameters())

    assert count(head) == ref['num_params'] == 48_928_830
    assert count(head.pixel_decoder) == 21_151_040
    assert count(head.transformer_decoder) + count(head.aux_semantic_head) == 27_777_790
    assert count(head.aux_semantic_head) == 15_856_742
    assert len(head.state_dict()) == ref['num_state_dict_entries']


def test_official_keys_map_one_to_one(head):
    ref = load_reference('kmax_decoder_coco_r50')
    official = {'sem_seg_head.' + k: torch.zeros(shape) for k, shape in ref['state_dict']}
    converted = convert_kmax_state_dict(official)
    mine = {'decode_head.' + k: v for k, v in head.state_dict().items()}
    assert set(converted) == set(mine)
    for key, value in converted.items():
        assert tuple(value.shape) == tuple(mine[key].shape), key


@pytest.mark.parametrize('name', ['kmax_decoder_coco_r50', 'kmax_decoder_coco_r50_513'])
def test_seeded_model_reproduces_official_outputs(name, head):
    ref = load_reference(name)
    gen = torch.Generator().manual_seed(0)
    feats = [torch.randn(ref['input_shape'][k], generator=gen)
             for k in ('res2', 'res3', 'res4', 'res5')]
    head.eval()
    with torch.no_grad():
        predictions, aux = head(feats)
    assert aux is None  # the auxiliary semantic head only runs in training
    final = predictions[-1]
    outputs = [final['class_logits'], final['mask_logits'], final['pixel_feature']]
    for out, shape, stats in zip(outputs, ref['output_shapes'], ref['output_stats']):
        assert list(out.shape) == shape
        assert out.mean().item() == pytest.approx(stats['mean'], rel=1e-4, abs=1e-9)
        assert out.abs().mean().item() == pytest.approx(stats['mean_abs'], rel=1e-4)
