"""A tiny three-task model (no normalisation layers) and batches for the loss-balancer tests.

Its losses are plain means over equally sized images with every pixel valid, so the loss of a
batch is the mean of the losses of its halves: a 2-rank run must equal a 1-process run.
"""
import torch
import torch.nn as nn
from mmengine.structures import PixelData

from mmdense.registry import MODELS
from mmdense.structures import MultiTaskDataSample

TASKS = ('semseg', 'depth', 'normals')
CHANNELS = dict(semseg=4, depth=1, normals=3)
LOSSES = dict(semseg=dict(type='DenseCrossEntropyLoss'), depth=dict(type='MaskedL1Loss'),
              normals=dict(type='MaskedL1Loss', normalize=True))


@MODELS.register_module(force=True)
class _MTLTinyBackbone(nn.Module):

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)

    def forward(self, x):
        return [torch.tanh(self.conv2(torch.tanh(self.conv1(x))))]


@MODELS.register_module(force=True)
class _MTLTinyHead(nn.Module):
    tasks = list(TASKS)

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleDict({t: nn.Conv2d(6, CHANNELS[t], 1) for t in TASKS})

    def forward(self, feats):
        return {t: conv(feats[0]) for t, conv in self.convs.items()}


def build_model(balancer=None, seed=0):
    torch.manual_seed(seed)
    cfg = dict(type='MultiTaskEncoderDecoder', backbone=dict(type='_MTLTinyBackbone'),
               decode_head=dict(type='_MTLTinyHead'), losses=dict(LOSSES),
               data_preprocessor=dict(type='MultiTaskDataPreProcessor', mean=[128.0] * 3,
                                      std=[64.0] * 3))
    if balancer is not None:
        cfg['loss_balancer'] = balancer
    return MODELS.build(cfg)


def make_batch(num, seed=0, size=(8, 8)):
    g = torch.Generator().manual_seed(seed)
    h, w = size
    inputs, samples = [], []
    for _ in range(num):
        inputs.append(torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8))
        sample = MultiTaskDataSample()
        sample.set_metainfo(dict(ori_shape=(h, w), img_shape=(h, w), tasks=list(TASKS)))
        sample.set_gt('semseg', PixelData(data=torch.randint(0, 4, (1, h, w), generator=g)))
        sample.set_gt('depth', PixelData(data=0.5 + 3 * torch.rand(1, h, w, generator=g)))
        sample.set_gt('normals', PixelData(
            data=nn.functional.normalize(torch.randn(3, h, w, generator=g), dim=0)))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def split_batch(batch, parts, index):
    """The ``index``-th of ``parts`` equal contiguous slices of ``batch``."""
    n = len(batch['inputs']) // parts
    sl = slice(index * n, (index + 1) * n)
    return dict(inputs=batch['inputs'][sl], data_samples=batch['data_samples'][sl])
