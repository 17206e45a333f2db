"""Loading, large-scale jitter and packing of panoptic annotations."""
from collections.abc import Sequence

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.fileio import get
from mmengine.structures import PixelData
from mmseg.datasets.transforms import PackSegInputs
from PIL import Image

from mmdense.registry import TRANSFORMS

__all__ = [
    'LoadPanopticSegAnnotations', 'PanopticLargeScaleJitter', 'PanopticCopyPaste',
    'PackPanopticInputs', 'rgb2id'
]


def rgb2id(color: np.ndarray) -> np.ndarray:
    """Decode a COCO panoptic PNG (H, W, 3 RGB) into segment ids ``R + 256 G + 256^2 B``."""
    color = color.astype(np.int32)
    return color[..., 0] + 256 * color[..., 1] + 256 * 256 * color[..., 2]


@TRANSFORMS.register_module()
class LoadPanopticSegAnnotations(BaseTransform):
    """Load a panoptic PNG as segment ids plus a semantic map.

    Adds ``gt_panoptic_seg`` (int32 ids, 0 = unlabelled) and ``gt_seg_map`` (int64 labels,
    ``ignore_index`` where unlabelled) to the results and to ``seg_fields``, so that mmseg's
    geometric transforms (``RandomFlip``, ``RandomCrop``, ``Resize``...) move them with the
    image (nearest-neighbour).

    Args:
        ignore_index: semantic label of unlabelled pixels.
        crowd_as_ignore: give crowd regions ``ignore_index`` in ``gt_seg_map`` (they keep their
            class by default, as in the datasets' semantic labels); the panoptic targets always
            treat crowd regions as void.
        check_segments: raise if a listed segment is absent from the PNG or the PNG holds an
            unlisted non-zero id.
        backend_args: file backend arguments.
    """

    def __init__(self, ignore_index: int = 255, crowd_as_ignore: bool = False,
                 check_segments: bool = True, backend_args: dict | None = None) -> None:
        self.ignore_index = ignore_index
        self.crowd_as_ignore = crowd_as_ignore
        self.check_segments = check_segments
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        path = results['seg_map_path']
        try:
            png = mmcv.imfrombytes(get(path, backend_args=self.backend_args), flag='color',
                                   channel_order='rgb')
        except FileNotFoundError as err:
            raise FileNotFoundError(f'panoptic PNG {path} does not exist') from err
        if png is None:
            raise ValueError(f'{path}: cannot be decoded as an image')
        ids = rgb2id(png)
        segments = results.get('segments_info', [])
        if self.check_segments:
            present = set(np.unique(ids).tolist()) - {0}
            listed = {s['id'] for s in segments}
            missing = sorted(listed - present)
            if missing:
                raise ValueError(f'{path}: segment ids {missing} of the annotation file are not '
                                 'in the PNG')
            unlisted = sorted(present - listed)
            if unlisted:
                raise ValueError(f'{path}: the PNG holds segment ids {unlisted[:10]} that the '
                                 'annotation file does not list')
        sem = np.full(ids.shape, self.ignore_index, dtype=np.int64)
        for seg in segments:
            if seg.get('iscrowd', 0) and self.crowd_as_ignore:
                continue
            sem[ids == seg['id']] = seg['category']
        results['gt_panoptic_seg'] = ids
        results['gt_seg_map'] = sem
        results.setdefault('seg_fields', [])
        for key in ('gt_panoptic_seg', 'gt_seg_map'):
            if key not in results['seg_fields']:
                results['seg_fields'].append(key)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ignore_index={self.ignore_index}, '
                f'crowd_as_ignore={self.crowd_as_ignore}, '
                f'check_segments={self.check_segments})')


@TRANSFORMS.register_module()
class PanopticLargeScaleJitter(BaseTransform):
    """Large-scale jitter: random rescale relative to the crop size, then a random crop.

    As detectron2's ``ResizeScale`` + ``RandomCrop(absolute)`` used by kMaX-DeepLab: a factor
    ``s ~ U(ratio_range)`` is drawn and the image is resized (aspect ratio kept) to fit in
    ``s * crop_size``; a random window of at most ``crop_size`` is then cut out. Smaller results
    are padded later (bottom/right) by the data preprocessor and the model.

    Args:
        crop_size: (h, w) output size.
        ratio_range: range of the scale factor relative to ``crop_size``.
        interpolation: image interpolation (segment maps use nearest).
        backend: ``'cv2'`` or ``'pillow'``. detectron2 resizes uint8 images and the panoptic
            PNGs with PIL (bilinear, antialiased when shrinking; nearest with pixel-centre
            sampling), which ``'pillow'`` reproduces for the image and the segment maps.
    """

    def __init__(self, crop_size: tuple[int, int], ratio_range: Sequence[float] = (0.1, 2.0),
                 interpolation: str = 'bilinear', backend: str = 'cv2') -> None:
        if len(crop_size) != 2 or min(crop_size) <= 0:
            raise ValueError(f'crop_size must be (h, w) > 0, got {crop_size}')
        if len(ratio_range) != 2 or not 0 < ratio_range[0] <= ratio_range[1]:
            raise ValueError(f'ratio_range must be (min, max) with 0 < min <= max, '
                             f'got {ratio_range}')
        self.crop_size = tuple(crop_size)
        self.ratio_range = tuple(ratio_range)
        self.interpolation = interpolation
        if backend not in ('cv2', 'pillow'):
            raise ValueError(f"backend must be 'cv2' or 'pillow', got {backend!r}")
        self.backend = backend

    def _resize_seg(self, seg: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        if self.backend == 'cv2':
            return mmcv.imresize(seg, size, interpolation='nearest')
        # PIL's 32-bit integer mode keeps panoptic ids exact under nearest sampling
        resized = Image.fromarray(seg.astype(np.int32)).resize(size, Image.NEAREST)
        return np.asarray(resized).astype(seg.dtype)

    def _random_scale(self) -> float:
        return float(np.random.uniform(*self.ratio_range))

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        ratio = self._random_scale()
        scale = min(self.crop_size[0] * ratio / h, self.crop_size[1] * ratio / w)
        new_h, new_w = max(int(round(h * scale)), 1), max(int(round(w * scale)), 1)
        img = mmcv.imresize(img, (new_w, new_h), interpolation=self.interpolation,
                            backend=self.backend)
        seg_fields = results.get('seg_fields', [])
        segs = {k: self._resize_seg(results[k], (new_w, new_h)) for k in seg_fields}

        crop_h, crop_w = min(self.crop_size[0], new_h), min(self.crop_size[1], new_w)
        y0 = np.random.randint(new_h - crop_h + 1)
        x0 = np.random.randint(new_w - crop_w + 1)
        results['img'] = img[y0:y0 + crop_h, x0:x0 + crop_w]
        for k, seg in segs.items():
            results[k] = seg[y0:y0 + crop_h, x0:x0 + crop_w]
        results['img_shape'] = results['img'].shape[:2]
        results['scale_factor'] = (new_w / w, new_h / h)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, '
                f'ratio_range={self.ratio_range}, backend={self.backend!r})')


@TRANSFORMS.register_module()
class PanopticCopyPaste(BaseTransform):
    """kMaX-DeepLab's copy-paste: segments of a second image are pasted onto the first.

    Both images go through their own augmentation (``main_pipeline`` / ``paste_pipeline``,
    e.g. large-scale jitter, flip and photometric distortion; the official code uses half the
    scale range for the pasted image) and are padded (bottom/right) to ``crop_size``. Every
    non-crowd thing segment of the pasted image and a random subset (random size) of its other
    non-crowd segments are then copied over. Pasted segments get negated ids so that they
    cannot collide with the main image's; stuff pasted onto stuff of the same class becomes part
    of that class's single target mask in the model.

    Use inside mmseg's ``MultiImageMixDataset``, which supplies the second image
    (``results['mix_results']``) through :meth:`get_indices`; the wrapped dataset's pipeline
    only loads (``LoadImageFromFile``, ``LoadPanopticSegAnnotations``).

    Args:
        crop_size: (h, w) of the output.
        main_pipeline: transform configs for the main image.
        paste_pipeline: transform configs for the pasted image (default: ``main_pipeline``).
        pad_val: image value of padded pixels; the data preprocessor's mean makes them zero
            after normalisation, as the official code does.
        seg_pad_val: ``gt_seg_map`` value of padded pixels.
    """

    def __init__(self,
                 crop_size: tuple[int, int],
                 main_pipeline: Sequence[dict],
                 paste_pipeline: Sequence[dict] | None = None,
                 pad_val: float = 127.5,
                 seg_pad_val: int = 255) -> None:
        from mmcv.transforms import Compose
        self.crop_size = tuple(crop_size)
        self.main_pipeline = Compose(list(main_pipeline))
        self.paste_pipeline = Compose(list(paste_pipeline if paste_pipeline is not None
                                           else main_pipeline))
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val

    def get_indices(self, dataset) -> int:
        """Index of the image to paste (any image of the dataset, as the official code)."""
        return np.random.randint(len(dataset))

    def _pad(self, results: dict) -> dict:
        h, w = self.crop_size
        img = results['img']
        if img.shape[0] > h or img.shape[1] > w:
            raise ValueError(f'PanopticCopyPaste: augmented image {img.shape[:2]} exceeds '
                             f'crop_size {self.crop_size}; crop in the per-image pipelines')
        padded = np.full((h, w) + img.shape[2:], self.pad_val, dtype=np.float32)
        padded[:img.shape[0], :img.shape[1]] = img
        results['img'] = padded
        for key, fill in (('gt_panoptic_seg', 0), ('gt_seg_map', self.seg_pad_val)):
            if key in results:
                seg = np.full((h, w), fill, dtype=results[key].dtype)
                seg[:results[key].shape[0], :results[key].shape[1]] = results[key]
                results[key] = seg
        return results

    def transform(self, results: dict) -> dict:
        mix = results.pop('mix_results', None)
        if not mix:
            raise ValueError('PanopticCopyPaste needs a second image in results["mix_results"]; '
                             'wrap the dataset in MultiImageMixDataset')
        main = self._pad(self.main_pipeline(results))
        paste = self._pad(self.paste_pipeline(mix[0]))

        segments = [s for s in paste.get('segments_info', []) if not s.get('iscrowd', 0)]
        candidates = [s['id'] for s in segments]
        things = {s['id'] for s in segments if s.get('is_thing', True)}
        np.random.shuffle(candidates)
        keep = np.random.randint(len(candidates) + 1)
        pasted_ids = [i for k, i in enumerate(candidates) if k < keep or i in things]
        mask = np.isin(paste['gt_panoptic_seg'], pasted_ids)

        main['img'] = np.where(mask[..., None], paste['img'], main['img'])
        main['gt_panoptic_seg'] = np.where(mask, -paste['gt_panoptic_seg'],
                                           main['gt_panoptic_seg'])
        if 'gt_seg_map' in main and 'gt_seg_map' in paste:
            main['gt_seg_map'] = np.where(mask, paste['gt_seg_map'], main['gt_seg_map'])
        pasted = set(pasted_ids)
        main['segments_info'] = list(main.get('segments_info', [])) + [
            dict(s, id=-s['id']) for s in segments if s['id'] in pasted]
        main['img_shape'] = self.crop_size
        return main

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, '
                f'main_pipeline={self.main_pipeline}, paste_pipeline={self.paste_pipeline})')


@TRANSFORMS.register_module()
class PackPanopticInputs(PackSegInputs):
    """Pack the image, ``gt_seg_map`` and ``gt_panoptic_seg`` into a ``SegDataSample``.

    ``gt_panoptic_seg`` becomes ``data_sample.gt_panoptic_seg.sem_seg`` (int64, (1, H, W)
    segment ids) and ``segments_info`` goes to the metainfo.

    Args:
        meta_keys: keys copied into the metainfo.
    """

    def __init__(self,
                 meta_keys=('img_path', 'seg_map_path', 'img_id', 'ori_shape', 'img_shape',
                            'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                            'segments_info')) -> None:
        super().__init__(meta_keys=meta_keys)

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        if 'gt_panoptic_seg' in results:
            import torch
            ids = torch.from_numpy(np.ascontiguousarray(results['gt_panoptic_seg'])).long()
            packed['data_samples'].gt_panoptic_seg = PixelData(sem_seg=ids[None])
        return packed
