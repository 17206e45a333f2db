"""kMaX-DeepLab head: pixel decoder, k-means transformer decoder and auxiliary semantic head."""
import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmdense.registry import MODELS

from .aux_semantic_head import KMaXAuxSemanticHead, KMaXAuxSemanticLightHead
from .layers import KMAX_NORM_CFG


@MODELS.register_module()
class KMaXHead(BaseModule):
    """kMaX-DeepLab decode head.

    Args:
        in_channels: backbone channels in backbone order: strides 4, 8, 16 and 32, or with the
            ResNet stem (stride 4) first for the five-stage Cityscapes decoder. The auxiliary
            semantic head reads the last four.
        num_classes: thing + stuff classes (a void class is added to the predictions).
        pixel_decoder: config of the pixel decoder (``in_channels`` and ``norm_cfg`` filled in;
            default ``KMaXPixelDecoder`` with the paper's settings).
        transformer_decoder: config of the transformer decoder (``num_classes`` and
            ``norm_cfg`` filled in; default ``KMaXTransformerDecoder``).
        aux_semantic_head: whether to build the train-only auxiliary semantic head
            (official ``AUX_SEMANTIC_WEIGHT > 0``).
        aux_semantic_decoder: official ``USE_AUX_SEMANTIC_DECODER``: True for the
            Panoptic-DeepLab decoder over strides 32, 8 and 4 (:class:`KMaXAuxSemanticHead`,
            ``num_classes + 1`` outputs), False for a light head on the last feature
            (:class:`KMaXAuxSemanticLightHead`, ``num_classes`` outputs at stride 32).
        criterion: config of the loss (``num_classes`` filled in; default ``KMaXCriterion``).
        gt_stride: stride at which the ground truth is subsampled for the losses (the mask
            predictions are at stride 4).
        norm_cfg: norm of every decoder layer (TF DeepLab2's BN: eps 1e-3, momentum 0.01).
        init_cfg: mmengine init config (the constructors already apply the official init).
    """

    def __init__(self,
                 in_channels: Sequence[int] = (256, 512, 1024, 2048),
                 num_classes: int = 133,
                 pixel_decoder: dict | None = None,
                 transformer_decoder: dict | None = None,
                 aux_semantic_head: bool = True,
                 aux_semantic_decoder: bool = True,
                 criterion: dict | None = None,
                 gt_stride: int = 4,
                 norm_cfg: dict = KMAX_NORM_CFG,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.num_classes = num_classes
        self.gt_stride = gt_stride
        pixel_decoder = copy.deepcopy(pixel_decoder or dict(type='KMaXPixelDecoder'))
        pixel_decoder.setdefault('in_channels', in_channels)
        pixel_decoder.setdefault('norm_cfg', norm_cfg)
        self.pixel_decoder = MODELS.build(pixel_decoder)
        transformer_decoder = copy.deepcopy(transformer_decoder
                                            or dict(type='KMaXTransformerDecoder'))
        transformer_decoder.setdefault('num_classes', num_classes)
        transformer_decoder.setdefault('norm_cfg', norm_cfg)
        self.transformer_decoder = MODELS.build(transformer_decoder)
        self.aux_semantic_head = None
        if aux_semantic_head and aux_semantic_decoder:
            self.aux_semantic_head = KMaXAuxSemanticHead(in_channels[-4:], num_classes + 1,
                                                         norm_cfg)
        elif aux_semantic_head:
            self.aux_semantic_head = KMaXAuxSemanticLightHead(in_channels[-1], num_classes,
                                                              norm_cfg)
        criterion = copy.deepcopy(criterion or dict(type='KMaXCriterion'))
        criterion.setdefault('num_classes', num_classes)
        if not aux_semantic_head:
            criterion['aux_semantic_weight'] = 0.0
        self.criterion = MODELS.build(criterion)

    def forward(self, feats: Sequence[Tensor]) -> tuple[list[dict[str, Tensor]],
                                                        Tensor | None]:
        """Predict.

        Args:
            feats: backbone features (see ``in_channels``).

        Returns:
            tuple: the per-layer predictions followed by the final one (see
            :meth:`KMaXTransformerDecoder.forward`), and the auxiliary semantic logits (only
            in training, else None).
        """
        decoded = self.pixel_decoder(feats)
        num_attended = len(self.transformer_decoder.dec_layers)
        predictions = self.transformer_decoder(decoded[:num_attended], decoded[-1])
        aux_semantic = None
        if self.training and self.aux_semantic_head is not None:
            aux_feats = feats[-4:]
            if isinstance(self.aux_semantic_head, KMaXAuxSemanticLightHead):
                aux_feats = feats[-1]
            aux_semantic = self.aux_semantic_head(aux_feats)
        return predictions, aux_semantic

    def loss(self, feats: Sequence[Tensor], batch_data_samples: list) -> dict[str, Tensor]:
        """Compute the losses of a batch.

        Args:
            feats: backbone features.
            batch_data_samples: samples with ``gt_panoptic_seg`` (segment ids) and
                ``segments_info`` (per segment ``id``, ``category``, ``iscrowd``; stuff is told
                apart by ``is_thing``).

        Returns:
            dict: the weighted losses.
        """
        predictions, aux_semantic = self(feats)
        final_size = predictions[-1]['mask_logits'].shape[-2:]
        # DeepLab2 aligns corners when the target height is odd.
        align_corners = final_size[0] % 2 == 1
        resized = []
        for prediction in predictions[:-1]:
            resized.append(dict(
                class_logits=prediction['class_logits'],
                mask_logits=F.interpolate(prediction['mask_logits'], size=final_size,
                                          mode='bilinear', align_corners=align_corners),
                pixel_feature=F.interpolate(prediction['pixel_feature'], size=final_size,
                                            mode='bilinear', align_corners=align_corners)))
        resized.append(predictions[-1])
        targets = [self.build_target(s, final_size) for s in batch_data_samples]
        return self.criterion(resized, targets, aux_semantic)

    def build_target(self, data_sample, size: Sequence[int]) -> dict:
        """Turn one sample's panoptic ground truth into per-segment masks at ``size``.

        The id map is padded (bottom/right, void) to the batch input shape, subsampled with
        ``gt_stride`` as in the official data mapper (``gt[::4, ::4]``) and cropped to ``size``.
        Crowd segments and segments absent from the map are left out (void); stuff segments of
        one class are merged.

        Args:
            data_sample: a sample with ``gt_panoptic_seg`` and ``segments_info``.
            size: (h, w) of the mask predictions.

        Returns:
            dict: ``labels`` (M,), ``masks`` (M, h, w) float and ``sem_seg`` (h, w) with
            ``num_classes`` on unlabelled pixels.
        """
        ids = data_sample.gt_panoptic_seg.sem_seg
        ids = ids[0] if ids.dim() == 3 else ids
        pad_h, pad_w = data_sample.metainfo.get('batch_input_shape', ids.shape)
        ids = F.pad(ids, (0, max(pad_w - ids.shape[1], 0), 0, max(pad_h - ids.shape[0], 0)))
        ids = ids[::self.gt_stride, ::self.gt_stride][:size[0], :size[1]]
        ids = F.pad(ids, (0, size[1] - ids.shape[1], 0, size[0] - ids.shape[0]))

        labels, masks, stuff_index = [], [], {}
        for segment in data_sample.metainfo.get('segments_info', []):
            if segment.get('iscrowd', 0):
                continue
            mask = ids == segment['id']
            if not bool(mask.any()):
                continue
            label = int(segment['category'])
            if not segment.get('is_thing', True):
                if label in stuff_index:
                    masks[stuff_index[label]] |= mask
                    continue
                stuff_index[label] = len(masks)
            labels.append(label)
            masks.append(mask)
        sem_seg = torch.full(tuple(size), self.num_classes, dtype=torch.int64, device=ids.device)
        for label, mask in zip(labels, masks):
            sem_seg[mask] = label
        if masks:
            masks_t = torch.stack(masks).float()
        else:
            masks_t = ids.new_zeros((0, *size), dtype=torch.float32)
        return dict(labels=torch.tensor(labels, dtype=torch.int64, device=ids.device),
                    masks=masks_t, sem_seg=sem_seg)

    def predict(self, feats: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """Return the final class logits (B, N, C+1) and mask logits (B, N, h, w)."""
        predictions, _ = self(feats)
        return predictions[-1]['class_logits'], predictions[-1]['mask_logits']

