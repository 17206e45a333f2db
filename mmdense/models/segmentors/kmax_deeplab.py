"""kMaX-DeepLab panoptic segmentor."""
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData
from mmseg.models.segmentors.base import BaseSegmentor
from torch import Tensor

from mmdense.registry import MODELS

from ..heads.kmax.postprocess import kmax_panoptic_inference, kmax_semantic_inference
from .dense_inference import unpad_unflip_resize

DEFAULT_TEST_CFG = dict(
    panoptic_on=True,
    semantic_on=True,
    output_seg_logits=False,
    thing_class_ids=None,
    class_threshold_thing=0.7,
    class_threshold_stuff=0.5,
    pixel_confidence_threshold=0.4,
    overlap_threshold=0.8,
    reorder_class_weight=1.0,
    reorder_mask_weight=1.0,
    stuff_area_limit=0)


@MODELS.register_module()
class KMaXDeepLab(BaseSegmentor):
    """kMaX-DeepLab: k-means Mask Transformer (Yu et al., ECCV 2022).

    Images are expected padded (bottom/right, zero after normalisation) to a fixed size by the
    data preprocessor, as in the official code; the model itself runs at any size.

    Args:
        backbone: backbone config (features at strides 4, 8, 16, 32).
        decode_head: :class:`KMaXHead` config.
        train_cfg: unused, kept for the mmseg interface.
        test_cfg: inference settings, see ``DEFAULT_TEST_CFG``: ``panoptic_on`` /
            ``semantic_on`` select the outputs, ``thing_class_ids`` lists the labels of thing
            classes (required for panoptic output), the rest are the merging thresholds of
            :func:`kmax_panoptic_inference`.
        data_preprocessor: data preprocessor config.
        init_cfg: init config.
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 train_cfg: dict | None = None,
                 test_cfg: dict | None = None,
                 data_preprocessor: dict | None = None,
                 init_cfg=None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.decode_head = MODELS.build(decode_head)
        self.num_classes = self.decode_head.num_classes
        self.train_cfg = train_cfg
        self.test_cfg = dict(DEFAULT_TEST_CFG, **(test_cfg or {}))
        unknown = set(self.test_cfg) - set(DEFAULT_TEST_CFG)
        if unknown:
            raise KeyError(f'unknown kMaX test_cfg keys {sorted(unknown)}; '
                           f'valid keys: {sorted(DEFAULT_TEST_CFG)}')
        if self.test_cfg['panoptic_on'] and self.test_cfg['thing_class_ids'] is None:
            raise ValueError('test_cfg.thing_class_ids (labels of the thing classes) is required '
                             'for panoptic inference')

    def extract_feat(self, inputs: Tensor) -> list[Tensor]:
        return list(self.backbone(inputs))

    def encode_decode(self, inputs: Tensor, batch_img_metas: list[dict]) -> Tensor:
        """Semantic class scores (B, C, H, W) at the input resolution."""
        class_logits, mask_logits = self.decode_head.predict(self.extract_feat(inputs))
        mask_logits = self._resize(mask_logits, inputs.shape[-2:], inputs.shape[-1])
        return torch.stack([kmax_semantic_inference(c, m)
                            for c, m in zip(class_logits, mask_logits)])

    def _forward(self, inputs: Tensor, data_samples=None):
        """Raw final class logits and mask logits (for FLOPs counting and export)."""
        return self.decode_head.predict(self.extract_feat(inputs))

    def loss(self, inputs: Tensor, data_samples: list) -> dict:
        for sample in data_samples:
            sample.set_metainfo(dict(batch_input_shape=tuple(inputs.shape[-2:])))
        return self.decode_head.loss(self.extract_feat(inputs), data_samples)

    @staticmethod
    def _resize(x: Tensor, size: Sequence[int], padded_width: int) -> Tensor:
        # The official code aligns corners when the padded input width is odd.
        return F.interpolate(x, size=tuple(size), mode='bilinear',
                             align_corners=padded_width % 2 == 1)

    def predict(self, inputs: Tensor, data_samples: list | None = None) -> list:
        """Predict panoptic and/or semantic segmentation at the original image size.

        Returns:
            list[SegDataSample]: with ``pred_panoptic_seg`` (``sem_seg``: label +
            instance_id * 1000, ``num_classes`` on void) and ``pred_sem_seg``.
        """
        from mmseg.structures import SegDataSample
        if data_samples is None:
            data_samples = [SegDataSample(metainfo=dict(
                img_shape=inputs.shape[-2:], ori_shape=inputs.shape[-2:]))
                for _ in range(inputs.shape[0])]
        class_logits, mask_logits = self.decode_head.predict(self.extract_feat(inputs))
        padded_width = inputs.shape[-1]
        mask_logits = self._resize(mask_logits, inputs.shape[-2:], padded_width)
        cfg = self.test_cfg
        for cls_logit, mask_logit, sample in zip(class_logits, mask_logits, data_samples):
            meta = sample.metainfo
            img_h, img_w = meta.get('img_shape', inputs.shape[-2:])[:2]
            flip = (meta.get('flip_direction') or 'horizontal') if meta.get('flip') else None
            # The images are padded at the bottom/right: what lies beyond img_shape is padding.
            mask_logit = unpad_unflip_resize(
                mask_logit[None], (0, inputs.shape[-1] - img_w, 0, inputs.shape[-2] - img_h),
                flip, meta.get('ori_shape', (img_h, img_w)),
                align_corners=padded_width % 2 == 1)[0]
            if cfg['semantic_on']:
                scores = kmax_semantic_inference(cls_logit, mask_logit)
                sample.set_data(dict(pred_sem_seg=PixelData(data=scores.argmax(0, keepdim=True))))
                if cfg['output_seg_logits']:
                    sample.set_data(dict(seg_logits=PixelData(data=scores)))
            if cfg['panoptic_on']:
                panoptic = kmax_panoptic_inference(
                    cls_logit, mask_logit, cfg['thing_class_ids'],
                    class_threshold_thing=cfg['class_threshold_thing'],
                    class_threshold_stuff=cfg['class_threshold_stuff'],
                    pixel_confidence_threshold=cfg['pixel_confidence_threshold'],
                    overlap_threshold=cfg['overlap_threshold'],
                    reorder_class_weight=cfg['reorder_class_weight'],
                    reorder_mask_weight=cfg['reorder_mask_weight'],
                    stuff_area_limit=cfg['stuff_area_limit'])
                sample.set_data(dict(pred_panoptic_seg=PixelData(sem_seg=panoptic[None])))
        return data_samples
