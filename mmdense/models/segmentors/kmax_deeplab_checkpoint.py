"""Key mapping from the official kMaX-DeepLab (detectron2) checkpoints to mmdense.

The official PyTorch release (bytedance/kmax-deeplab) saves detectron2 checkpoints with the
weights under ``model``: the decoder under ``sem_seg_head.`` and the backbone under
``backbone.`` (a detectron2 ResNet, ``stem``/``res2``...``res5``, or ConvNeXt with
``downsample_layers``/``stages``). mmdense uses ``decode_head.`` (:class:`KMaXHead`) and
``backbone.`` (mmseg's ``ResNet`` or :class:`TimmConvNeXt`).
"""
import re

# Official module names (dotted components) and their mmdense names. ``None`` drops the
# component. The keys are matched one component at a time, so names such as ``_conv1_bn_act``
# cannot clash with ``_low_level_fusion_os8_conv1_bn_act``.
_DECODER_COMPONENTS = {
    # pixel decoder
    '_in_norms': 'in_norms',
    '_stages': 'stages',
    '_blocks': None,
    '_resized_fuses': 'fuses',
    '_conv_bn_low': 'low_proj',
    '_conv_bn_high': 'high_proj',
    '_conv1_bn_act': 'conv1',
    '_conv2_bn_act': 'conv2',
    '_conv3_bn': 'conv3',
    '_shortcut': 'shortcut',
    '_attention': 'attention',
    '_height_axis': 'height_axis',
    '_width_axis': 'width_axis',
    '_query_rpe': 'query_rpe',
    '_key_rpe': 'key_rpe',
    '_value_rpe': 'value_rpe',
    '_embeddings': 'embeddings',
    '_batch_norm_qkv': 'qkv_bn',
    '_batch_norm_similarity': 'similarity_bn',
    '_batch_norm_retrieved_output': 'retrieved_bn',
    # transformer decoder
    '_kmax_transformer_layers': 'layers',
    '_query_conv1_bn_act': 'query_conv1',
    '_pixel_conv1_bn_act': 'pixel_conv1',
    '_query_qkv_conv_bn': 'query_qkv',
    '_pixel_v_conv_bn': 'pixel_v',
    '_query_self_attention': 'self_attn',
    '_batch_norm_retrieved_value': 'retrieved_bn',
    '_query_conv3_bn': 'query_conv3',
    '_query_ffn_conv1_bn_act': 'ffn_conv1',
    '_query_ffn_conv2_bn': 'ffn_conv2',
    '_predcitor': 'predictor',
    '_kmeans_query_batch_norm_retrieved_value': 'kmeans_bn',
    '_kmeans_query_conv3_bn': 'kmeans_conv3',
    '_pixel_space_head_conv0bnact': 'pixel_conv0',
    '_pixel_space_head_conv1bnact': 'pixel_conv1',
    '_pixel_space_head_last_convbn': 'pixel_proj',
    '_transformer_mask_head': 'mask_head',
    '_transformer_class_head': 'class_head',
    '_pixel_space_mask_batch_norm': 'mask_bn',
    '_cluster_centers': 'cluster_centers',
    '_class_embedding_projection': 'class_embed_proj',
    '_mask_embedding_projection': 'mask_embed_proj',
    # auxiliary semantic head
    '_aspp': 'aspp',
    '_aspp_conv0': 'convs.0',
    '_aspp_conv1': 'convs.1',
    '_aspp_conv2': 'convs.2',
    '_aspp_conv3': 'convs.3',
    '_aspp_pool': 'pool_conv',
    '_proj_conv_bn_act': 'project',
    '_low_level_projection_os8': 'os8_proj',
    '_low_level_fusion_os8_conv0_bn_act': 'os8_fuse_dw',
    '_low_level_fusion_os8_conv1_bn_act': 'os8_fuse_pw',
    '_low_level_projection_os4': 'os4_proj',
    '_low_level_fusion_os4_conv0_bn_act': 'os4_fuse_dw',
    '_low_level_fusion_os4_conv1_bn_act': 'os4_fuse_pw',
    'conv_block_0': 'head_dw',
    'conv_block_1': 'head_pw',
    'final_conv': 'cls_conv',
    # ConvBN's norm
    'norm': 'bn',
}

_DECODER_PREFIXES = (
    ('pixel_decoder.', 'pixel_decoder.'),
    ('predictor._auxiliary_semantic_predictor.', 'aux_semantic_head.'),
    ('predictor.', 'transformer_decoder.'),
)

_PARAM_NAMES = {'weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'}


def convert_decoder_key(key: str) -> str:
    """Map an official ``sem_seg_head`` key (without that prefix) to a ``KMaXHead`` key.

    Raises:
        KeyError: if the key is not part of the official decoder.
    """
    matches = [(old, new) for old, new in _DECODER_PREFIXES if key.startswith(old)]
    if not matches:
        raise KeyError(f'unexpected kMaX decoder key {key!r}')
    old, new = matches[0]
    rest = key[len(old):]
    parts = rest.split('.')
    out = []
    i = 0
    while i < len(parts):
        part = parts[i]
        if part == 'qkv_transform' and i + 1 < len(parts) and parts[i + 1] == 'conv':
            # The axial attention's qkv ConvBN (no norm) is a bare conv in mmdense.
            out.append('qkv_conv')
            i += 2
            continue
        if part.isdigit() or (part in _PARAM_NAMES and i == len(parts) - 1) or part == 'conv':
            out.append(part)
        elif part in _DECODER_COMPONENTS:
            if _DECODER_COMPONENTS[part] is not None:
                out.append(_DECODER_COMPONENTS[part])
        else:
            raise KeyError(f'unexpected component {part!r} in kMaX decoder key {key!r}')
        i += 1
    return new + '.'.join(out)


def convert_resnet_key(key: str) -> str:
    """Map a detectron2 ResNet key (``stem.*``, ``res2.*``...) to mmseg's ``ResNet``.

    Raises:
        KeyError: if the key is not part of a detectron2 ResNet.
    """
    m = re.match(r'^stem\.conv1\.(weight|norm\.(\w+))$', key)
    if m:
        return 'conv1.weight' if m.group(1) == 'weight' else f'bn1.{m.group(2)}'
    m = re.match(r'^res([2-5])\.(\d+)\.(conv[123]|shortcut)\.(weight|norm\.(\w+))$', key)
    if m:
        stage, block, layer, _, norm_param = m.groups()
        prefix = f'layer{int(stage) - 1}.{block}.'
        if layer == 'shortcut':
            return prefix + ('downsample.0.weight' if norm_param is None
                             else f'downsample.1.{norm_param}')
        idx = layer[-1]
        return prefix + (f'conv{idx}.weight' if norm_param is None else f'bn{idx}.{norm_param}')
    raise KeyError(f'unexpected detectron2 ResNet key {key!r}')


def convert_convnext_key(key: str) -> str:
    """Map a kMaX/DeepLab2 ConvNeXt key to timm's ConvNeXt (:class:`TimmConvNeXt`).

    Raises:
        KeyError: if the key is not part of that ConvNeXt.
    """
    m = re.match(r'^downsample_layers\.(\d)\.([01])\.(weight|bias)$', key)
    if m:
        stage, idx, param = m.groups()
        if stage == '0':
            return f'stem.{idx}.{param}'
        return f'stages.{stage}.downsample.{idx}.{param}'
    m = re.match(r'^stages\.(\d)\.(\d+)\.(dwconv|norm|pwconv1|pwconv2)\.(weight|bias)$', key)
    if m:
        stage, block, layer, param = m.groups()
        layer = {'dwconv': 'conv_dw', 'norm': 'norm', 'pwconv1': 'mlp.fc1',
                 'pwconv2': 'mlp.fc2'}[layer]
        return f'stages.{stage}.blocks.{block}.{layer}.{param}'
    m = re.match(r'^stages\.(\d)\.(\d+)\.gamma$', key)
    if m:
        return f'stages.{m.group(1)}.blocks.{m.group(2)}.gamma'
    raise KeyError(f'unexpected kMaX ConvNeXt key {key!r}')


def detect_backbone(keys) -> str | None:
    """Return ``'resnet'`` (detectron2), ``'convnext'`` (official/DeepLab2 layout),
    ``'timm_convnext'`` or None from backbone keys (without prefix)."""
    keys = list(keys)
    if any(k.startswith(('stem.conv1.', 'res2.')) for k in keys):
        return 'resnet'
    if any(k.startswith('downsample_layers.') for k in keys):
        return 'convnext'
    if any(k.startswith('stem.0.') for k in keys) and any('.blocks.' in k for k in keys):
        return 'timm_convnext'
    return None


# Classification heads of ImageNet checkpoints, dropped from bare backbones.
_CLASSIFIER_PREFIXES = {
    'resnet': ('linear.', 'fc.'),
    'convnext': ('norm.', 'head.'),
    'timm_convnext': ('head.', ),
}


def convert_kmax_state_dict(state_dict: dict[str, object]) -> dict[str, object]:
    """Convert official kMaX-DeepLab weights to a :class:`KMaXDeepLab` state dict.

    Accepts a full checkpoint's ``model`` dict (``backbone.`` + ``sem_seg_head.``) or a bare
    backbone: detectron2 ResNet (``stem.``/``res*.``, e.g. the ImageNet ``R-50.pkl`` the
    official configs start from), ConvNeXt in the official/DeepLab2 layout
    (``downsample_layers.``, ``stages.i.j.``) or in timm's layout (kept as it is); the
    classifiers of bare ImageNet backbones are dropped. ``pixel_mean``/``pixel_std`` buffers and
    ``criterion.*`` entries are dropped too.

    Raises:
        KeyError: naming every key that could not be mapped.
    """
    keys = [k for k in state_dict
            if not (k in ('pixel_mean', 'pixel_std') or k.startswith('criterion.'))]
    has_prefix = any(k.startswith(('backbone.', 'sem_seg_head.')) for k in keys)
    backbone_keys = ([k[len('backbone.'):] for k in keys if k.startswith('backbone.')]
                     if has_prefix else keys)
    backbone_type = detect_backbone(backbone_keys)
    if not has_prefix and backbone_type is not None:
        keys = [k for k in keys if not k.startswith(_CLASSIFIER_PREFIXES[backbone_type])]
    converted, unknown = {}, []
    for key in keys:
        value = state_dict[key]
        try:
            if has_prefix and key.startswith('sem_seg_head.'):
                new_key = 'decode_head.' + convert_decoder_key(key[len('sem_seg_head.'):])
            else:
                sub = key[len('backbone.'):] if has_prefix else key
                if has_prefix and not key.startswith('backbone.'):
                    raise KeyError(key)
                if backbone_type == 'resnet':
                    new_key = 'backbone.' + convert_resnet_key(sub)
                elif backbone_type == 'convnext':
                    new_key = 'backbone.' + convert_convnext_key(sub)
                elif backbone_type == 'timm_convnext':
                    new_key = 'backbone.' + sub
                else:
                    raise KeyError(key)
        except KeyError:
            unknown.append(key)
            continue
        converted[new_key] = value
    if unknown:
        shown = ', '.join(unknown[:10]) + (' ...' if len(unknown) > 10 else '')
        raise KeyError(f'{len(unknown)} keys are not part of an official kMaX-DeepLab '
                       f'checkpoint: {shown}')
    return converted
