"""Encoder-decoder for multi-task dense prediction: backbone -> neck -> multi-task head."""
from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from torch import Tensor

from mmdense.registry import MODELS
from mmdense.structures import TASK_SPECS, MultiTaskDataSample


@MODELS.register_module()
class MultiTaskEncoderDecoder(BaseModel):
    """Backbone, optional neck and a multi-task head with one loss per task.

    The head maps the (neck) features to ``{task: logits}``; it must expose ``tasks`` (the
    task names, in order). Losses are computed on the logits resized (bilinearly) to the
    label size, one config per task in ``losses``; their ``loss_weight`` sets the task weight.

    Predictions (``mode='predict'``) fill ``pred_<task>`` of every data sample at the sample's
    ``ori_shape``, after removing the batch padding (``padding_size`` ``(left, right, top,
    bottom)``, from :class:`MultiTaskDataPreProcessor`, at the bottom/right or centred), the
    pipeline padding (``padding`` ``(left, top, right, bottom)``, from ``MultiTaskPad``) and
    undoing a test-time flip. With centred padding this is the official DeMT evaluation frame:
    the prediction on the padded image, cut back out of its centre. What they hold follows
    ``TASK_SPECS[task].pred``:

    * ``'label'``: the argmax class, int64 ``(1, H, W)`` (semseg, human_parts);
    * ``'value'``: the regression map; depth clamped at 0 (as the official evaluation),
      normals scaled to unit length ``(3, H, W)``;
    * ``'prob'``: the foreground probability ``(1, H, W)``: sigmoid of a 1-channel output (edge),
      softmax class 1 of a 2-channel output (saliency).

    Args:
        backbone: backbone config (any mmseg/mmdense backbone, or ``mmpose.X``).
        head: multi-task head config (e.g. :class:`~mmdense.models.heads.DeMTHead`).
        losses: ``{task: loss config}``, one per task of the head.
        neck: optional neck config.
        train_cfg: unused, kept for the mmseg-style interface.
        test_cfg: ``dict(mode='whole')`` (default) or
            ``dict(mode='slide', crop_size=(h, w), stride=(h, w))``.
        data_preprocessor: data preprocessor config, usually
            :class:`~mmdense.models.data_preprocessors.MultiTaskDataPreProcessor`.
        pretrained: backbone checkpoint, shorthand for the backbone's ``init_cfg``.
        align_corners: ``align_corners`` of the logit resizing. Default: the head's
            ``align_corners`` attribute, or False.
        init_cfg: initialisation config.
        loss_balancer: how the task losses are combined (a
            :mod:`~mmdense.models.loss_balancers` config, e.g. ``dict(type='PCGrad')``).
            Default: their sum, as mmengine's ``parse_losses``.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 losses: dict[str, dict],
                 neck: dict | None = None,
                 train_cfg: dict | None = None,
                 test_cfg: dict | None = None,
                 data_preprocessor: dict | nn.Module | None = None,
                 pretrained: str | None = None,
                 align_corners: bool | None = None,
                 init_cfg: dict | list[dict] | None = None,
                 loss_balancer: dict | None = None) -> None:
        if isinstance(data_preprocessor, dict):
            # Built here so that mmdense types resolve whatever the default scope is.
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if pretrained is not None:
            backbone = copy.deepcopy(backbone)
            backbone['init_cfg'] = dict(type='Pretrained', checkpoint=pretrained)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck) if neck is not None else None
        self.head = MODELS.build(head)
        if not hasattr(self.head, 'tasks'):
            raise AttributeError(f'{type(self.head).__name__} has no `tasks` attribute; a '
                                 'multi-task head must list its tasks.')
        self.tasks = list(self.head.tasks)
        unknown = [t for t in self.tasks if t not in TASK_SPECS]
        if unknown:
            raise ValueError(f'MultiTaskEncoderDecoder: tasks {unknown} are not in TASK_SPECS '
                             f'({sorted(TASK_SPECS)}).')
        missing = [t for t in self.tasks if t not in losses]
        extra = [t for t in losses if t not in self.tasks]
        if missing or extra:
            raise ValueError(f'MultiTaskEncoderDecoder: `losses` must have one entry per head '
                             f'task {self.tasks}; missing {missing}, unknown {extra}.')
        self.losses = nn.ModuleDict({t: MODELS.build(losses[t]) for t in self.tasks})
        if align_corners is None:
            align_corners = getattr(self.head, 'align_corners', False)
        self.align_corners = align_corners
        self.train_cfg = train_cfg
        self.test_cfg = dict(test_cfg or dict(mode='whole'))
        if self.test_cfg.get('mode', 'whole') not in ('whole', 'slide'):
            raise ValueError(f"test_cfg.mode must be 'whole' or 'slide', got "
                             f"{self.test_cfg['mode']!r}")
        self.loss_balancer = None
        if loss_balancer is not None:
            self.loss_balancer = MODELS.build(loss_balancer)
            self.loss_balancer.bind(self, [f'loss_{t}' for t in self.tasks])

    # ----------------------------------------------------------------------------- forward
    def forward(self, inputs: Tensor, data_samples: list[MultiTaskDataSample] | None = None,
                mode: str = 'tensor'):
        """``mode``: ``'loss'`` (dict of losses), ``'predict'`` (data samples with
        ``pred_<task>``) or ``'tensor'`` (dict of raw task logits)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}". Only supports loss, predict and tensor mode')

    def extract_feat(self, inputs: Tensor) -> list[Tensor]:
        """Backbone (and neck) features."""
        x = self.backbone(inputs)
        if self.neck is not None:
            x = self.neck(x)
        return x

    def _forward(self, inputs: Tensor,
                 data_samples: list[MultiTaskDataSample] | None = None) -> dict[str, Tensor]:
        """Raw head logits ``{task: (B, C_task, h, w)}``."""
        return self.head(self.extract_feat(inputs))

    def _resize(self, x: Tensor, size: Sequence[int]) -> Tensor:
        if tuple(x.shape[-2:]) == tuple(size):
            return x
        return F.interpolate(x, size=tuple(size), mode='bilinear',
                             align_corners=self.align_corners)

    # -------------------------------------------------------------------------------- loss
    def loss(self, inputs: Tensor, data_samples: list[MultiTaskDataSample]) -> dict[str, Tensor]:
        """Per-task losses ``{'loss_<task>': value}`` (already weighted)."""
        if not data_samples:
            raise ValueError('MultiTaskEncoderDecoder.loss needs data samples with labels.')
        logits = self._forward(inputs, data_samples)
        losses = {}
        for task in self.tasks:
            gts = []
            for sample in data_samples:
                gt = sample.get(f'gt_{task}', None)
                if gt is None:
                    raise KeyError(f'a training sample ({sample.metainfo.get("img_path", "?")}) '
                                   f'has no gt_{task}; every task of the model needs labels.')
                gts.append(gt.data)
            gt = torch.stack(gts)
            pred = self._resize(logits[task], gt.shape[-2:])
            losses[f'loss_{task}'] = self.losses[task](pred, gt)
        return losses

    def parse_losses(self, losses: dict) -> tuple[Tensor, dict[str, Tensor]]:
        """mmengine's sum of the losses, or the ``loss_balancer``'s combination."""
        if self.loss_balancer is None:
            return super().parse_losses(losses)
        return self.loss_balancer(losses, self)

    # ----------------------------------------------------------------------------- predict
    def predict(self, inputs: Tensor, data_samples: list[MultiTaskDataSample] | None = None
                ) -> list[MultiTaskDataSample]:
        """Predict every task; fills ``pred_<task>`` at the original image size."""
        if data_samples is None:
            data_samples = []
            for _ in range(inputs.shape[0]):
                sample = MultiTaskDataSample()
                shape = tuple(inputs.shape[2:])
                sample.set_metainfo(dict(ori_shape=shape, img_shape=shape, pad_shape=shape))
                data_samples.append(sample)
        logits = self.inference(inputs, [s.metainfo for s in data_samples])
        return self.postprocess_result(logits, data_samples)

    def inference(self, inputs: Tensor, batch_img_metas: list[dict] | None = None
                  ) -> dict[str, Tensor]:
        """Task logits at the input size, by whole-image or sliding-window inference."""
        if self.test_cfg.get('mode', 'whole') == 'slide':
            return self.slide_inference(inputs)
        return self.whole_inference(inputs)

    def whole_inference(self, inputs: Tensor) -> dict[str, Tensor]:
        logits = self._forward(inputs)
        return {t: self._resize(logits[t], inputs.shape[2:]) for t in self.tasks}

    def slide_inference(self, inputs: Tensor) -> dict[str, Tensor]:
        """Average the logits of overlapping ``crop_size`` windows taken every ``stride``."""
        try:
            h_crop, w_crop = self.test_cfg['crop_size']
            h_stride, w_stride = self.test_cfg['stride']
        except KeyError as e:
            raise KeyError(f"test_cfg mode 'slide' needs crop_size and stride; missing {e}") \
                from None
        b, _, h_img, w_img = inputs.shape
        h_grids = max(h_img - h_crop + h_stride - 1, 0) // h_stride + 1
        w_grids = max(w_img - w_crop + w_stride - 1, 0) // w_stride + 1
        preds: dict[str, Tensor] = {}
        count = inputs.new_zeros((b, 1, h_img, w_img))
        for h_idx in range(h_grids):
            for w_idx in range(w_grids):
                y2 = min(h_idx * h_stride + h_crop, h_img)
                x2 = min(w_idx * w_stride + w_crop, w_img)
                y1, x1 = max(y2 - h_crop, 0), max(x2 - w_crop, 0)
                crop = self.whole_inference(inputs[:, :, y1:y2, x1:x2])
                for t, logit in crop.items():
                    if t not in preds:
                        preds[t] = inputs.new_zeros((b, logit.shape[1], h_img, w_img))
                    preds[t][:, :, y1:y2, x1:x2] += logit
                count[:, :, y1:y2, x1:x2] += 1
        return {t: p / count for t, p in preds.items()}

    def postprocess_result(self, logits: dict[str, Tensor],
                           data_samples: list[MultiTaskDataSample]) -> list[MultiTaskDataSample]:
        """Crop the padding, undo a flip, resize to ``ori_shape`` and set ``pred_<task>``."""
        for i, sample in enumerate(data_samples):
            meta = sample.metainfo
            for task in self.tasks:
                logit = logits[task][i:i + 1]
                height, width = logit.shape[-2:]
                left, right, top, bottom = meta.get('padding_size', (0, 0, 0, 0))
                logit = logit[..., top:height - bottom, left:width - right]
                if 'padding' in meta:
                    left, top, right, bottom = meta['padding']
                    height, width = logit.shape[-2:]
                    logit = logit[..., top:height - bottom, left:width - right]
                if meta.get('flip', False):
                    logit = self._unflip(logit, task, meta.get('flip_direction', 'horizontal'))
                if 'ori_shape' in meta:
                    logit = self._resize(logit, meta['ori_shape'][:2])
                sample.set_field(PixelData(data=self._to_prediction(task, logit[0])),
                                 f'pred_{task}')
            if 'tasks' not in meta:
                sample.set_metainfo(dict(tasks=list(self.tasks)))
        return data_samples

    @staticmethod
    def _unflip(logit: Tensor, task: str, direction: str) -> Tensor:
        if direction not in ('horizontal', 'vertical'):
            raise NotImplementedError(f'cannot undo a {direction!r} flip of the {task} '
                                      'prediction.')
        sign = TASK_SPECS[task].flip_sign(direction)  # raises for an unsupported direction
        logit = logit.flip(-1 if direction == 'horizontal' else -2)
        if sign is not None:
            logit = logit * logit.new_tensor(sign).view(1, -1, 1, 1)
        return logit

    @staticmethod
    def _to_prediction(task: str, logit: Tensor) -> Tensor:
        """``(C, H, W)`` logits of one image -> the ``pred_<task>`` tensor (see the class)."""
        kind = TASK_SPECS[task].pred
        if kind == 'label':
            return logit.argmax(dim=0, keepdim=True)
        if kind == 'prob':
            if logit.shape[0] == 1:
                return logit.sigmoid()
            if logit.shape[0] == 2:
                return logit.softmax(dim=0)[1:]
            raise ValueError(f"'{task}' predicts a probability, so its head output needs 1 or 2 "
                             f'channels, got {logit.shape[0]}.')
        spec = TASK_SPECS[task]
        if spec.kind == 'unit_vector':
            logit = F.normalize(logit, p=2, dim=0)
        if spec.min_value is not None:
            logit = logit.clamp(min=spec.min_value)
        return logit
