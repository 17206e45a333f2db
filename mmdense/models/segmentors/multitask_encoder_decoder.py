"""Encoder-decoder for multi-task dense prediction: backbone -> neck -> multi-task decode head."""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmengine.structures import PixelData
from mmseg.models.segmentors.base import BaseSegmentor
from mmseg.utils import add_prefix
from torch import Tensor

from mmdense.registry import MODELS
from mmdense.structures import TASK_SPECS, MultiTaskDataSample

from .dense_inference import slide_inference, unpad_unflip_resize


@MODELS.register_module()
class MultiTaskEncoderDecoder(BaseSegmentor):
    """Backbone, optional neck and a multi-task decode head with one loss per task.

    An mmseg segmentor (:class:`~mmseg.models.segmentors.BaseSegmentor`: forward modes
    ``'loss'``/``'predict'``/``'tensor'``, ``extract_feat``, ``with_neck``/``with_decode_head``/
    ``with_auxiliary_head``) whose decode head maps the (neck) features to ``{task: logits}``;
    it must expose ``tasks`` (the task names, in order). Losses are computed on the logits
    resized (bilinearly) to the label size, one config per task in ``losses``; their
    ``loss_weight`` sets the task weight. mmseg's ``EncoderDecoder`` assumes one output tensor
    and a head that computes its own loss, so the dict-of-tasks steps are written here and the
    slide inference and padding/flip/resize steps are the helpers shared with
    :class:`KMaXDeepLab` (:mod:`.dense_inference`).

    Optional mmseg auxiliary heads (``auxiliary_head``, e.g. an ``FCNHead``) work as in
    mmseg: each reads the backbone/neck features, is trained with its own ``loss_decode``
    (logged as ``aux.<loss_name>``, or ``aux_<i>.*`` for a list of heads) and is unused at
    inference. Each names the task whose labels it learns with a ``task`` key, e.g.
    ``dict(type='FCNHead', in_channels=144, in_index=3, channels=64, num_classes=40,
    task='semseg')``; the head sees them as ``gt_sem_seg``.

    Predictions (``mode='predict'``) fill ``pred_<task>`` of every data sample at the sample's
    ``ori_shape``, after removing the padding (``padding_size`` ``(left, right, top, bottom)``,
    mmseg's record: the ``MultiTaskPad`` pipeline padding plus the batch padding of
    :class:`MultiTaskDataPreProcessor`, at the bottom/right or centred) and undoing a test-time
    flip. With centred padding this is the official DeMT evaluation frame: the prediction on
    the padded image, cut back out of its centre. What they hold follows
    ``TASK_SPECS[task].pred``:

    * ``'label'``: the argmax class, int64 ``(1, H, W)`` (semseg, human_parts);
    * ``'value'``: the regression map; depth clamped at 0 (as the official evaluation),
      normals scaled to unit length ``(3, H, W)``;
    * ``'prob'``: the foreground probability ``(1, H, W)``: sigmoid of a 1-channel output (edge),
      softmax class 1 of a 2-channel output (saliency).

    Checkpoints of earlier mmdense versions, whose head weights are ``head.*``, load into
    ``decode_head.*``.

    Args:
        backbone: backbone config (any mmseg/mmdense backbone, or ``mmpose.X``).
        decode_head: multi-task head config (e.g. :class:`~mmdense.models.heads.DeMTHead`).
        losses: ``{task: loss config}``, one per task of the decode head.
        neck: optional neck config.
        auxiliary_head: optional mmseg decode head config, or a list of them, each with the
            ``task`` it learns (see above).
        train_cfg: passed to the auxiliary heads' ``loss`` (mmseg's interface).
        test_cfg: ``dict(mode='whole')`` (default) or
            ``dict(mode='slide', crop_size=(h, w), stride=(h, w))``.
        data_preprocessor: data preprocessor config, usually
            :class:`~mmdense.models.data_preprocessors.MultiTaskDataPreProcessor`.
        pretrained: backbone checkpoint, shorthand for the backbone's ``init_cfg``.
        align_corners: ``align_corners`` of the logit resizing. Default: the decode head's
            ``align_corners`` attribute, or False.
        init_cfg: initialisation config.
        loss_balancer: how the task losses are combined (a
            :mod:`~mmdense.models.loss_balancers` config, e.g. ``dict(type='PCGrad')``).
            Default: their sum, as mmengine's ``parse_losses``. Auxiliary losses are added to
            the balanced loss.
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 losses: dict[str, dict],
                 neck: dict | None = None,
                 auxiliary_head: dict | list[dict] | None = None,
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
        self.decode_head = MODELS.build(decode_head)
        if not hasattr(self.decode_head, 'tasks'):
            raise AttributeError(f'{type(self.decode_head).__name__} has no `tasks` attribute; '
                                 'a multi-task decode head must list its tasks.')
        self.tasks = list(self.decode_head.tasks)
        unknown = [t for t in self.tasks if t not in TASK_SPECS]
        if unknown:
            raise ValueError(f'MultiTaskEncoderDecoder: tasks {unknown} are not in TASK_SPECS '
                             f'({sorted(TASK_SPECS)}).')
        missing = [t for t in self.tasks if t not in losses]
        extra = [t for t in losses if t not in self.tasks]
        if missing or extra:
            raise ValueError(f'MultiTaskEncoderDecoder: `losses` must have one entry per '
                             f'decode_head task {self.tasks}; missing {missing}, unknown '
                             f'{extra}.')
        self.losses = nn.ModuleDict({t: MODELS.build(losses[t]) for t in self.tasks})
        self._init_auxiliary_head(auxiliary_head)
        if align_corners is None:
            align_corners = getattr(self.decode_head, 'align_corners', False)
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

    def _init_auxiliary_head(self, auxiliary_head: dict | list[dict] | None) -> None:
        """mmseg's ``EncoderDecoder._init_auxiliary_head``, plus each head's ``task``."""
        self.auxiliary_tasks: list[str] = []
        if auxiliary_head is None:
            return
        heads = []
        for cfg in auxiliary_head if isinstance(auxiliary_head, list) else [auxiliary_head]:
            cfg = copy.deepcopy(dict(cfg))
            task = cfg.pop('task', None)
            if task not in self.tasks:
                raise ValueError(f'MultiTaskEncoderDecoder: auxiliary_head ({cfg.get("type")}) '
                                 f'needs `task`, one of the decode_head tasks {self.tasks}; '
                                 f'got {task!r}.')
            self.auxiliary_tasks.append(task)
            heads.append(MODELS.build(cfg))
        self.auxiliary_head = (nn.ModuleList(heads) if isinstance(auxiliary_head, list)
                               else heads[0])

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        # Earlier mmdense versions named the decode head `head`; its weights go to decode_head.
        old = prefix + 'head.'
        renamed = [k for k in state_dict if k.startswith(old)]
        if renamed:
            print_log(f'MultiTaskEncoderDecoder: loading {len(renamed)} `head.*` weights of an '
                      'earlier mmdense checkpoint into `decode_head.*`.', logger='current')
            for key in renamed:
                state_dict[prefix + 'decode_' + key[len(prefix):]] = state_dict.pop(key)
            metadata = getattr(state_dict, '_metadata', None)
            if metadata is not None:  # the version records of the head's modules (BN)
                for key in [k for k in metadata if k == old[:-1] or k.startswith(old)]:
                    metadata.setdefault(prefix + 'decode_' + key[len(prefix):], metadata[key])
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    # ----------------------------------------------------------------------------- forward
    def extract_feat(self, inputs: Tensor) -> list[Tensor]:
        """Backbone (and neck) features."""
        x = self.backbone(inputs)
        if self.with_neck:
            x = self.neck(x)
        return x

    def _forward(self, inputs: Tensor,
                 data_samples: list[MultiTaskDataSample] | None = None) -> dict[str, Tensor]:
        """Raw decode head logits ``{task: (B, C_task, h, w)}`` (``mode='tensor'``)."""
        return self.decode_head(self.extract_feat(inputs))

    def encode_decode(self, inputs: Tensor, batch_img_metas: list[dict] | None = None
                      ) -> dict[str, Tensor]:
        """Task logits at the input size."""
        logits = self._forward(inputs)
        return {t: self._resize(logits[t], inputs.shape[2:]) for t in self.tasks}

    def _resize(self, x: Tensor, size) -> Tensor:
        if tuple(x.shape[-2:]) == tuple(size):
            return x
        return F.interpolate(x, size=tuple(size), mode='bilinear',
                             align_corners=self.align_corners)

    # -------------------------------------------------------------------------------- loss
    def loss(self, inputs: Tensor, data_samples: list[MultiTaskDataSample]) -> dict[str, Tensor]:
        """Per-task losses ``{'loss_<task>': value}`` (already weighted), then the auxiliary
        heads' losses (``aux.*``)."""
        if not data_samples:
            raise ValueError('MultiTaskEncoderDecoder.loss needs data samples with labels.')
        x = self.extract_feat(inputs)
        losses = self._decode_head_forward_train(x, data_samples)
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(x, data_samples))
        return losses

    @staticmethod
    def _stack_gt(data_samples: list[MultiTaskDataSample], task: str) -> Tensor:
        gts = []
        for sample in data_samples:
            gt = sample.get(f'gt_{task}', None)
            if gt is None:
                raise KeyError(f'a training sample ({sample.metainfo.get("img_path", "?")}) '
                               f'has no gt_{task}; every task of the model needs labels.')
            gts.append(gt.data)
        return torch.stack(gts)

    def _decode_head_forward_train(self, x: list[Tensor],
                                   data_samples: list[MultiTaskDataSample]) -> dict[str, Tensor]:
        logits = self.decode_head(x)
        losses = {}
        for task in self.tasks:
            gt = self._stack_gt(data_samples, task)
            pred = self._resize(logits[task], gt.shape[-2:])
            losses[f'loss_{task}'] = self.losses[task](pred, gt)
        return losses

    def _auxiliary_head_forward_train(self, x: list[Tensor],
                                      data_samples: list[MultiTaskDataSample]
                                      ) -> dict[str, Tensor]:
        """mmseg's auxiliary losses, each head on its task's labels as ``gt_sem_seg``."""
        from mmseg.structures import SegDataSample
        heads = self.auxiliary_head
        several = isinstance(heads, nn.ModuleList)
        losses = {}
        for idx, (head, task) in enumerate(zip(heads if several else [heads],
                                               self.auxiliary_tasks)):
            gts = self._stack_gt(data_samples, task)
            seg_samples = [SegDataSample(metainfo=s.metainfo, gt_sem_seg=PixelData(data=gt))
                           for s, gt in zip(data_samples, gts)]
            loss = head.loss(x, seg_samples, self.train_cfg)
            losses.update(add_prefix(loss, f'aux_{idx}' if several else 'aux'))
        return losses

    def parse_losses(self, losses: dict) -> tuple[Tensor, dict[str, Tensor]]:
        """mmengine's sum of the losses, or the ``loss_balancer``'s combination of the task
        losses plus the sum of the auxiliary ones."""
        if self.loss_balancer is None:
            return super().parse_losses(losses)
        task_losses = {k: v for k, v in losses.items() if not k.startswith('aux')}
        loss, log_vars = self.loss_balancer(task_losses, self)
        aux_losses = {k: v for k, v in losses.items() if k.startswith('aux')}
        if aux_losses:
            aux_loss, aux_vars = super().parse_losses(aux_losses)
            loss = loss + aux_loss
            log_vars['loss'] = log_vars['loss'] + aux_vars.pop('loss')
            log_vars.update(aux_vars)
        return loss, log_vars

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
            return self.slide_inference(inputs, batch_img_metas)
        return self.whole_inference(inputs, batch_img_metas)

    def whole_inference(self, inputs: Tensor, batch_img_metas: list[dict] | None = None
                        ) -> dict[str, Tensor]:
        return self.encode_decode(inputs, batch_img_metas)

    def slide_inference(self, inputs: Tensor, batch_img_metas: list[dict] | None = None
                        ) -> dict[str, Tensor]:
        """Average the logits of overlapping ``crop_size`` windows taken every ``stride``."""
        try:
            crop_size, stride = self.test_cfg['crop_size'], self.test_cfg['stride']
        except KeyError as e:
            raise KeyError(f"test_cfg mode 'slide' needs crop_size and stride; missing {e}") \
                from None
        return slide_inference(self.encode_decode, inputs, crop_size, stride)

    def postprocess_result(self, logits: dict[str, Tensor],
                           data_samples: list[MultiTaskDataSample]) -> list[MultiTaskDataSample]:
        """Crop the padding, undo a flip, resize to ``ori_shape`` and set ``pred_<task>``."""
        for i, sample in enumerate(data_samples):
            meta = sample.metainfo
            flip = (meta.get('flip_direction') or 'horizontal') if meta.get('flip') else None
            for task in self.tasks:
                logit = unpad_unflip_resize(logits[task][i:i + 1],
                                            meta.get('padding_size', (0, 0, 0, 0)),
                                            flip, meta.get('ori_shape'), self.align_corners)
                pred = self._postprocess_task(task, logit[0], flip)
                sample.set_field(PixelData(data=pred), f'pred_{task}')
            if 'tasks' not in meta:
                sample.set_metainfo(dict(tasks=list(self.tasks)))
        return data_samples

    @staticmethod
    def _postprocess_task(task: str, logit: Tensor, flip_direction: str | None) -> Tensor:
        """What differs per task, read from its :class:`TaskSpec`: the sign change of an
        unflipped prediction (``flip_signs``) and the ``pred_<task>`` tensor (see the class)
        made from the ``(C, H, W)`` logits of one image, already unpadded, unflipped and
        resized."""
        spec = TASK_SPECS[task]
        if flip_direction is not None:
            sign = spec.flip_sign(flip_direction)  # raises for an unsupported direction
            if sign is not None:
                logit = logit * logit.new_tensor(sign).view(-1, 1, 1)
        kind = spec.pred
        if kind == 'label':
            return logit.argmax(dim=0, keepdim=True)
        if kind == 'prob':
            if logit.shape[0] == 1:
                return logit.sigmoid()
            if logit.shape[0] == 2:
                return logit.softmax(dim=0)[1:]
            raise ValueError(f"'{task}' predicts a probability, so its head output needs 1 or 2 "
                             f'channels, got {logit.shape[0]}.')
        if spec.kind == 'unit_vector':
            logit = F.normalize(logit, p=2, dim=0)
        if spec.min_value is not None:
            logit = logit.clamp(min=spec.min_value)
        return logit
