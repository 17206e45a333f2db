"""Decoders of the on-disk label formats of the multi-task dense-prediction datasets.

Each decoder reads one label file and returns it in the layout of
:data:`~mmdense.structures.TASK_SPECS`: ``(H, W)`` ``uint8`` for discrete tasks (255 = ignore),
``(H, W)`` ``float32`` depth (0 = invalid) and ``(H, W, 3)`` ``float32`` normals (zero vector =
invalid). A dataset describes every label of a sample as a spec
``dict(type=<decoder name>, path=<file>, **decoder kwargs)``, and
:class:`~mmdense.datasets.transforms.LoadMultiTaskAnnotations` calls :func:`load_label` on it.

Every error names the file it comes from.
"""
from __future__ import annotations

import inspect
import os.path as osp
from collections.abc import Callable, Iterable, Mapping

import numpy as np

#: Value of an ignored pixel in the discrete labels (``TASK_SPECS[...].ignore_value``).
IGNORE_INDEX = 255

LABEL_DECODERS: dict[str, Callable[..., np.ndarray]] = {}


def register_label_decoder(name: str) -> Callable:
    """Register a decoder under ``name`` so that label specs can refer to it by type."""

    def wrap(func: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        if name in LABEL_DECODERS:
            raise KeyError(f'label decoder {name!r} is already registered')
        LABEL_DECODERS[name] = func
        return func

    return wrap


def load_label(spec: Mapping, cache: dict | None = None,
               shape: tuple[int, int] | None = None) -> np.ndarray:
    """Decode the label file described by ``spec``.

    Args:
        spec: ``dict(type=<decoder name>, path=<file>, **kwargs)``.
        cache: optional dict shared by the decoders of one sample, so that a file needed by two
            tasks (PASCAL's ``LabelMap``) is read once.
        shape: ``(H, W)`` of the image, given to the decoders that take a ``shape`` argument
            (a label that may be empty on disk, like human parts, needs it).

    Returns:
        np.ndarray: the decoded label.
    """
    spec = dict(spec)
    decoder_name = spec.pop('type')
    if decoder_name not in LABEL_DECODERS:
        raise KeyError(f'unknown label decoder {decoder_name!r} (for {spec.get("path")}); '
                       f'registered: {sorted(LABEL_DECODERS)}')
    decoder = LABEL_DECODERS[decoder_name]
    if shape is not None and 'shape' not in spec and \
            'shape' in inspect.signature(decoder).parameters:
        spec['shape'] = tuple(shape)
    return decoder(cache=cache if cache is not None else {}, **spec)


# ---------------------------------------------------------------------------------------------
# File readers
# ---------------------------------------------------------------------------------------------
def _check_exists(path: str) -> None:
    if not osp.isfile(path):
        raise FileNotFoundError(f'label file not found: {path}')


def read_png(path: str) -> np.ndarray:
    """Read a PNG label with PIL: palette images give their indices, RGB images RGB values."""
    from PIL import Image

    _check_exists(path)
    try:
        with Image.open(path) as img:
            return np.array(img)
    except Exception as e:  # PIL raises several types for truncated or non-image files
        raise OSError(f'cannot decode image file {path}: {e}') from e


def read_npy(path: str) -> np.ndarray:
    _check_exists(path)
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:
        raise OSError(f'cannot read numpy file {path}: {e}') from e


def read_mat(path: str, cache: dict | None = None) -> dict:
    """Read a MATLAB file with ``scipy.io.loadmat`` (memoised in ``cache``)."""
    if cache is not None and ('mat', path) in cache:
        return cache[('mat', path)]
    from scipy.io import loadmat

    _check_exists(path)
    try:
        mat = loadmat(path)
    except Exception as e:
        raise OSError(f'cannot read MATLAB file {path}: {e}') from e
    if cache is not None:
        cache[('mat', path)] = mat
    return mat


def _mat_variables(mat: dict) -> list[str]:
    return sorted(k for k in mat if not k.startswith('__'))


def _as_2d(arr: np.ndarray, path: str, what: str) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ValueError(f'{path}: expected a single-channel {what} map, got an array of shape '
                         f'{arr.shape}')
    return arr


def check_label_values(task: str, label: np.ndarray, path: str,
                       num_classes: int | None = None) -> None:
    """Raise ``ValueError`` naming ``path`` unless every value of ``label`` is valid for ``task``.

    Well-formed but wrong labels otherwise train silently: a NaN depth makes every loss NaN,
    a class id beyond the head's classes fails deep inside the loss without naming the file.

    * continuous tasks: finite, and ``>= TaskSpec.min_value`` when set (depth: ``>= 0``,
      0 = invalid); unit vectors (normals): every component in ``[-1, 1]`` (zero vector =
      invalid);
    * discrete tasks: ``0..num_classes-1`` or the ignore value 255 (only the ``[0, 255]``
      range is checked when ``num_classes`` is ``None``).

    Args:
        task: task name (a key of :data:`~mmdense.structures.TASK_SPECS`).
        label: the decoded label.
        path: the file it comes from, for the message.
        num_classes: number of classes of a discrete task.
    """
    from mmdense.structures import TASK_SPECS

    spec = TASK_SPECS[task]
    if not label.size:
        return
    if not spec.discrete:
        finite = np.isfinite(label)
        if not finite.all():
            bad = int((~finite).sum())
            raise ValueError(f'{path}: {task} label has {bad} non-finite value(s) (NaN or inf); '
                             f'mark pixels without a valid {task} with {spec.ignore_value:g}')
        if spec.min_value is not None and label.min() < spec.min_value:
            below = 'negative values' if spec.min_value == 0 else \
                f'values below {spec.min_value:g}'
            raise ValueError(f'{path}: {task} label has {below} (min {label.min():g}); '
                             f'{task} must be >= {spec.min_value:g}'
                             + (f' {spec.unit}' if spec.unit else '')
                             + f' ({spec.ignore_value:g} = invalid)')
        if spec.kind == 'unit_vector' and np.abs(label).max() > 1. + 1e-3:
            raise ValueError(f'{path}: {task} label has components outside [-1, 1] (max '
                             f'|n| component {np.abs(label).max():g})')
        return
    values = np.unique(label)
    ignore = int(spec.ignore_value)
    if num_classes is None:
        bad = values[(values < 0) | (values > ignore)]
        valid = f'[0, {ignore}]'
    else:
        bad = values[((values < 0) | (values >= num_classes)) & (values != ignore)]
        valid = f'0..{num_classes - 1} or {ignore} (ignore)'
    if bad.size:
        shown = ', '.join(str(v) for v in bad[:8].tolist())
        raise ValueError(f'{path}: {task} label has value(s) {shown} outside the valid range '
                         f'{valid}')


def _check_class_range(labels: np.ndarray, path: str) -> None:
    if labels.size and (labels.min() < 0 or labels.max() > IGNORE_INDEX):
        raise ValueError(f'{path}: label values must lie in [0, {IGNORE_INDEX}], found '
                         f'[{labels.min()}, {labels.max()}]')


# ---------------------------------------------------------------------------------------------
# Generic decoders
# ---------------------------------------------------------------------------------------------
@register_label_decoder('png_label')
def decode_png_label(path: str, zero_is_ignore: bool = False, cache: dict | None = None
                     ) -> np.ndarray:
    """Class-index PNG.

    Args:
        path: the PNG file (palette or grey).
        zero_is_ignore: NYUD-v2 convention: 0 is "unlabeled" (-> 255) and the classes
            ``1..C`` become ``0..C-1``.

    Returns:
        np.ndarray: ``(H, W)`` uint8 labels.
    """
    labels = _as_2d(read_png(path), path, 'label').astype(np.int64)
    if zero_is_ignore:
        labels = np.where(labels == 0, IGNORE_INDEX + 1, labels) - 1
    _check_class_range(labels, path)
    return labels.astype(np.uint8)


@register_label_decoder('png_binary')
def decode_png_binary(path: str, threshold: float = 0.5, cache: dict | None = None
                      ) -> np.ndarray:
    """Grey PNG scaled to [0, 1] and thresholded: ``value / 255 > threshold``.

    Used for NYUD-v2 boundaries (stored as 0/255) and PASCAL's distilled saliency.

    Returns:
        np.ndarray: ``(H, W)`` uint8 map of {0, 1}.
    """
    img = _as_2d(read_png(path), path, 'binary')
    return (img.astype(np.float32) / 255. > threshold).astype(np.uint8)


@register_label_decoder('npy_depth')
def decode_npy_depth(path: str, depth_scale: float | None = None, cache: dict | None = None
                     ) -> np.ndarray:
    """Depth in metres stored as ``.npy``; 0 marks invalid pixels and is kept as is.

    Integer depth (e.g. ``uint16`` millimetres, as some NYUD-v2 exports store it) is refused
    unless ``depth_scale`` says how to convert it: read as metres it would give losses and
    errors 1000x too large without any other sign of trouble.

    Args:
        path: the ``.npy`` file.
        depth_scale: metres per stored unit (``0.001`` for millimetres); the stored values are
            multiplied by it. ``None`` (default): the file must hold floating-point metres.

    Returns:
        np.ndarray: ``(H, W)`` float32 depth.
    """
    depth = _as_2d(read_npy(path), path, 'depth')
    if depth.dtype == np.bool_ or not np.issubdtype(depth.dtype, np.number):
        raise ValueError(f'{path}: depth must be numeric, got dtype {depth.dtype}')
    if depth_scale is None:
        if np.issubdtype(depth.dtype, np.integer):
            top = int(depth.max()) if depth.size else 0
            raise ValueError(
                f'{path}: depth is stored as {depth.dtype} integers (max {top}), but mmdense '
                'reads depth as floating-point metres. If the values are millimetres, set '
                'depth_scale=0.001 in the dataset config (metres per stored unit); otherwise '
                'convert the files to float32 metres.')
        return depth.astype(np.float32)
    return (depth.astype(np.float64) * float(depth_scale)).astype(np.float32)


def _normals_from_png(path: str) -> np.ndarray:
    img = read_png(path)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'{path}: surface normals must be an RGB image, got an array of shape '
                         f'{img.shape}')
    if img.dtype != np.uint8:
        raise ValueError(f'{path}: surface normals must be 8-bit RGB, got dtype {img.dtype}')
    return 2. * img.astype(np.float32) / 255. - 1.


@register_label_decoder('png_normals')
def decode_png_normals(path: str, cache: dict | None = None) -> np.ndarray:
    """Surface normals stored as RGB PNG: ``n = 2 * v / 255 - 1`` per channel (x, y, z).

    Returns:
        np.ndarray: ``(H, W, 3)`` float32 normals; a zero vector marks an ignored pixel.
    """
    return _normals_from_png(path)


# ---------------------------------------------------------------------------------------------
# PASCAL-Context (the ASTMT / ATRC release)
# ---------------------------------------------------------------------------------------------
def read_label_map(path: str, cache: dict | None = None) -> np.ndarray:
    """The 459-class ``LabelMap`` of a PASCAL-Context ``trainval/<id>.mat`` file."""
    mat = read_mat(path, cache)
    if 'LabelMap' not in mat:
        raise KeyError(f'{path}: no "LabelMap" variable (found {_mat_variables(mat)})')
    return _as_2d(np.asarray(mat['LabelMap']), path, 'LabelMap')


@register_label_decoder('pascal_boundary')
def decode_pascal_boundary(path: str, cache: dict | None = None) -> np.ndarray:
    """Object boundaries of PASCAL-Context, derived from the 459-class ``LabelMap``.

    As in the official code: a pixel is a boundary candidate where the 3x3 Laplacian of the
    label map is non-zero (OpenCV, default reflect-101 border), and the candidates are thinned
    to one-pixel-wide curves with ``skimage.morphology.thin``.

    Returns:
        np.ndarray: ``(H, W)`` uint8 map of {0, 1}.
    """
    import cv2
    from skimage.morphology import thin

    # float64 holds every class id exactly and is accepted by cv2 whatever dtype the file uses
    label_map = read_label_map(path, cache).astype(np.float64)
    laplacian = cv2.Laplacian(label_map, cv2.CV_64F)
    return thin(np.abs(laplacian) > 0).astype(np.uint8)


@register_label_decoder('pascal_boundary_seism')
def decode_pascal_boundary_seism(path: str, cache: dict | None = None) -> np.ndarray:
    """PASCAL-Context boundaries as the SEISM evaluation derives them from ``LabelMap``.

    SEISM (the MATLAB benchmark behind the published odsF of ASTMT / MTI-Net / ATRC / DeMT)
    scores against ``bwmorph(seg2bmap(LabelMap), 'thin', Inf)``: a pixel is a boundary where its
    class differs from its right, bottom or bottom-right neighbour, thinned with MATLAB's
    semantics. The result sits up to a pixel away from the training target of
    :func:`decode_pascal_boundary`, so it is only the evaluation ground truth.

    Returns:
        np.ndarray: ``(H, W)`` uint8 map of {0, 1}.
    """
    from mmdense.evaluation.functional.boundary import seism_boundary_gt

    return seism_boundary_gt(read_label_map(path, cache))


@register_label_decoder('pascal_normals')
def decode_pascal_normals(path: str, label_map_path: str, valid_classes: Iterable[int],
                          cache: dict | None = None) -> np.ndarray:
    """Distilled PASCAL-Context normals, kept only on classes that NYUD-v2 also annotates.

    The distilled normals come from a network trained on NYUD-v2; the official loader zeroes
    them (= ignore) on every pixel whose 459-class ``LabelMap`` class is not in
    ``valid_classes``.

    Args:
        path: the RGB PNG of distilled normals.
        label_map_path: the ``pascal-context/trainval/<id>.mat`` file of the image.
        valid_classes: PASCAL-Context class ids (1-based, 459-class) to keep.

    Returns:
        np.ndarray: ``(H, W, 3)`` float32 normals.
    """
    normals = _normals_from_png(path)
    label_map = read_label_map(label_map_path, cache)
    if label_map.shape != normals.shape[:2]:
        raise ValueError(f'{path}: normals are {normals.shape[0]}x{normals.shape[1]} but the '
                         f'LabelMap in {label_map_path} is {label_map.shape[0]}x'
                         f'{label_map.shape[1]}')
    valid = np.isin(label_map, np.asarray(list(valid_classes)))
    normals[~valid] = 0.
    return normals


def _field(record: np.void | np.ndarray, name: str, path: str) -> np.ndarray:
    names = record.dtype.names or ()
    if name not in names:
        raise KeyError(f'{path}: PASCAL-Part annotation has no field {name!r} (fields: '
                       f'{list(names)})')
    return record[name]


def _mat_string(value: np.ndarray) -> str:
    value = np.asarray(value).ravel()
    return str(value[0]) if value.size else ''


@register_label_decoder('pascal_human_parts')
def decode_pascal_human_parts(path: str, part_ids: Mapping[str, int], shape: tuple | None = None,
                              person_class: int = 15, cache: dict | None = None) -> np.ndarray:
    """Human-part labels from a PASCAL-Part ``anno`` file.

    The file holds ``anno`` with fields ``imname`` and ``objects``; every object has ``class``,
    ``class_ind`` (VOC index, 15 = person), ``mask`` and ``parts`` (struct array of
    ``part_name`` and ``mask``). The parts of every person are painted in file order with the
    id ``part_ids[part_name]`` (later objects overwrite earlier ones, as in the official code).
    An image where no person part is annotated is fully ignored (255), which is the official
    ``AddIgnoreRegions`` rule.

    Args:
        path: the ``human_parts/<id>.mat`` file.
        part_ids: PASCAL-Part part name -> merged part id (1..K; 0 is background).
        shape: ``(H, W)`` of the image; needed only when the file has no person (the map then
            cannot take its size from a mask). When given, every mask is checked against it.
        person_class: VOC class index of "person".

    Returns:
        np.ndarray: ``(H, W)`` uint8 labels in ``0..K`` or 255.
    """
    mat = read_mat(path, cache)
    if 'anno' not in mat:
        raise KeyError(f'{path}: no "anno" variable (found {_mat_variables(mat)})')
    anno = np.asarray(mat['anno']).ravel()
    if anno.size != 1:
        raise ValueError(f'{path}: "anno" must be a single struct, got {anno.size} elements')
    objects = np.asarray(_field(anno[0], 'objects', path)).ravel()

    target = None if shape is None else np.zeros(tuple(shape), dtype=np.uint8)
    for obj in objects:
        class_ind = np.asarray(_field(obj, 'class_ind', path)).ravel()
        if class_ind.size == 0 or int(class_ind[0]) != person_class:
            continue
        for part in np.asarray(_field(obj, 'parts', path)).ravel():
            name = _mat_string(_field(part, 'part_name', path))
            if name not in part_ids:
                raise KeyError(f'{path}: unknown human part name {name!r}; known: '
                               f'{sorted(part_ids)}')
            mask = np.asarray(_field(part, 'mask', path)).astype(bool)
            if target is None:
                target = np.zeros(mask.shape, dtype=np.uint8)
            if mask.shape != target.shape:
                raise ValueError(f'{path}: mask of part {name!r} is {mask.shape[0]}x'
                                 f'{mask.shape[1]}, expected {target.shape[0]}x'
                                 f'{target.shape[1]}')
            target[mask] = part_ids[name]

    if target is None:
        raise ValueError(f'{path}: the file has no person part, so the label size is unknown; '
                         'pass shape=(H, W)')
    if not target.any():
        target.fill(IGNORE_INDEX)
    return target
