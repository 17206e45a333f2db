"""HRFormer backbone with the semantics of the official HRT code as options
(``OfficialHRFormer``).

MMPose's ``HRFormer`` holds the same parameters as the official ``HRT`` (HRNet/HRFormer) and
computes the same function except for two points, which this subclass makes configurable:

* relative position bias. The official pose code builds the bias table but never adds it to the
  attention logits (the add is commented out); the official segmentation code adds it. MMPose
  adds it, or (``with_rpe=False``) drops the table, which changes the parameter count. Here the
  table always exists and ``extra['with_rpe']`` only decides whether it is added; an unused table
  is frozen, so distributed training sees no parameter without a gradient.
* fuse-layer upsampling. The official code resizes every upsampled branch to the exact size of
  the target branch, so odd feature sizes (a 520x520 crop gives 130, 65, 33, 17) work. MMPose
  adds the upsampled map as is and fails on them. ``extra['upsample']`` takes, besides MMPose's
  ``mode``/``align_corners`` of the ``nn.Upsample``, ``resize_align_corners`` for that final
  bilinear resize (official pose: ``False``, official segmentation: ``True``).

It is also faster on CPU, with the same results: the blocks keep their tokens channels-last (the
token layout (B, H*W, C) is the channels-last layout of the (B, C, H, W) map), so the attention,
the FFN (1x1 convolutions as linear layers, depthwise 3x3 channels-last, where it is far faster)
and the 1x1 fuse convolutions share one layout without copies; window attention runs on all
windows of a batch at once (explicit products on CPU, where they beat the fused kernel for 7x7
windows, see ``mmdense.models.utils.attention``); the output projection skips the padded tokens;
in inference the batch norms after convolutions are folded into them and the activations run in
place. The backbone outputs are returned contiguous.
"""
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmpose.models.backbones.hrformer import CrossFFN, HRFomerModule, WindowMSA, build_drop_path
from mmpose.models.backbones.hrformer import HRFormer as MMPoseHRFormer
from mmpose.models.backbones.resnet import Bottleneck
from torch.nn.modules.batchnorm import _BatchNorm

from mmdense.models.utils.attention import dot_product_attention
from mmdense.registry import MODELS


def _conv(conv: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor,
          bias: torch.Tensor | None) -> torch.Tensor:
    """``conv`` with the given weights; a 1x1 convolution of a channels-last map runs as a
    linear layer on it, without the layout copy of the convolution kernel."""
    if (conv.kernel_size == (1, 1) and conv.stride == (1, 1) and conv.groups == 1
            and conv.padding in (0, (0, 0)) and x.dim() == 4
            and x.is_contiguous(memory_format=torch.channels_last)):
        return F.linear(x.permute(0, 2, 3, 1), weight.flatten(1), bias).permute(0, 3, 1, 2)
    return conv._conv_forward(x, weight, bias)


def _run_layers(layers: nn.Module | Sequence[nn.Module], x: torch.Tensor) -> torch.Tensor:
    """Run a (nested) sequence of convolutions, norms, activations and upsampling, as the
    stem, fuse and transition layers are; in inference each batch norm is folded into the
    convolution before it."""
    if not isinstance(layers, (nn.Sequential, list, tuple)):
        return layers(x)
    modules = list(layers)
    i = 0
    while i < len(modules):
        module = modules[i]
        if isinstance(module, nn.Conv2d):
            norm = modules[i + 1] if i + 1 < len(modules) else None
            if norm is not None and _is_frozen_bn(norm):
                x = _conv(module, x, *_fold_bn(module.weight, module.bias, norm))
                i += 2
                continue
            x = _conv(module, x, module.weight, module.bias)
        else:
            x = _run_layers(module, x)
        i += 1
    return x


def _run_bottleneck(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """MMPose's ``Bottleneck`` (stage 1) with its batch norms folded in inference.

    Training, gradient checkpointing and anything but plain frozen batch norms run the block
    itself.
    """
    if not isinstance(block, Bottleneck):
        return block(x)
    norms = (block.norm1, block.norm2, block.norm3)
    if block.training or (block.with_cp and x.requires_grad) or not all(
            _is_frozen_bn(norm) for norm in norms) or not isinstance(block.relu, nn.ReLU):
        return block(x)
    inplace = not (torch.is_grad_enabled() and x.requires_grad)
    out = x
    for conv, norm, act in ((block.conv1, block.norm1, True), (block.conv2, block.norm2, True),
                            (block.conv3, block.norm3, False)):
        out = _conv(conv, out, *_fold_bn(conv.weight, conv.bias, norm))
        if act:
            out = F.relu(out, inplace=inplace)
    identity = x if block.downsample is None else _run_layers(block.downsample, x)
    out = out.add_(identity) if inplace else out + identity
    return F.relu(out, inplace=inplace)


def _tokens_to_map(x: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """View (B, H*W, C) tokens as a channels-last (B, C, H, W) map (no copy)."""
    return x.view(x.shape[0], H, W, x.shape[2]).permute(0, 3, 1, 2)


def _map_to_tokens(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) map to (B, H*W, C) tokens; no copy for a channels-last map."""
    B, C, H, W = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, H * W, C)


def _activate(act: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply ``act``, in place when no gradient is recorded (fewer large allocations)."""
    if isinstance(act, nn.GELU) and not (torch.is_grad_enabled() and x.requires_grad):
        return torch.ops.aten.gelu_(x, approximate=act.approximate)
    return act(x)


def _is_frozen_bn(norm: nn.Module) -> bool:
    """Whether ``norm`` is a batch norm that normalises with its running statistics."""
    return (isinstance(norm, _BatchNorm) and not norm.training
            and norm.running_mean is not None and norm.running_var is not None)


def _fold_bn(weight: torch.Tensor, bias: torch.Tensor | None,
             norm: _BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold an inference-mode batch norm into the convolution before it."""
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    if bias is not None:
        shift = shift + bias * scale
    if norm.bias is not None:
        shift = shift + norm.bias
    return weight * scale.view(-1, *([1] * (weight.dim() - 1))), shift


class HRFormerWindowMSA(WindowMSA):
    """Multi-head self-attention inside windows, with an optional relative position bias.

    Same parameters and buffers as MMPose's ``WindowMSA`` (``qkv``, ``proj``,
    ``relative_position_bias_table``, ``relative_position_index``), but the bias table is always
    built, as in the official code. The attention itself is
    :func:`~mmdense.models.utils.attention.dot_product_attention`.

    Args:
        embed_dims (int): Number of channels.
        num_heads (int): Number of attention heads.
        window_size (Sequence[int]): Window height and width.
        qkv_bias (bool): Whether q, k and v have a bias. Defaults to True.
        qk_scale (float, optional): Scale of the logits. Defaults to ``head_dim ** -0.5``.
        attn_drop_rate (float): Dropout on the attention weights. Defaults to 0.
        proj_drop_rate (float): Dropout after the output projection. Defaults to 0.
        with_rpe (bool): Whether the relative position bias is added to the logits. When
            False the table is kept (official checkpoints hold it) but frozen.
            Defaults to True.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size: Sequence[int],
                 qkv_bias: bool = True,
                 qk_scale: float | None = None,
                 attn_drop_rate: float = 0.,
                 proj_drop_rate: float = 0.,
                 with_rpe: bool = True,
                 init_cfg: dict | None = None) -> None:
        super().__init__(
            embed_dims,
            num_heads,
            tuple(window_size),
            qkv_bias=qkv_bias,
            qk_scale=qk_scale,
            attn_drop_rate=attn_drop_rate,
            proj_drop_rate=proj_drop_rate,
            with_rpe=True,
            init_cfg=init_cfg)
        self.with_rpe = with_rpe
        self.attn_drop_rate = attn_drop_rate
        if not with_rpe:
            self.relative_position_bias_table.requires_grad_(False)

    def relative_position_bias(self) -> torch.Tensor:
        """Return the bias added to the logits, shaped (num_heads, Wh*Ww, Wh*Ww)."""
        num_tokens = self.window_size[0] * self.window_size[1]
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return bias.view(num_tokens, num_tokens, -1).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attend within each window.

        Args:
            x (Tensor): Windows of shape (num_windows, Wh*Ww, C).
            mask (Tensor, optional): Additive mask of shape (num_windows, Wh*Ww, Wh*Ww).

        Returns:
            Tensor: Shape (num_windows, Wh*Ww, C).
        """
        x = self.attend(x, mask)
        B, num_heads, N, head_dims = x.shape
        x = x.transpose(1, 2).reshape(B, N, num_heads * head_dims)
        return self.proj_drop(self.proj(x))

    def attend(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attention without the output projection.

        Args:
            x (Tensor): Windows of shape (num_windows, Wh*Ww, C).
            mask (Tensor, optional): Additive mask of shape (num_windows, Wh*Ww, Wh*Ww).

        Returns:
            Tensor: Per-head outputs of shape (num_windows, num_heads, Wh*Ww, C // num_heads).
        """
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attn_mask = self.relative_position_bias() if self.with_rpe else None
        if mask is not None:
            mask = mask.unsqueeze(1)
            attn_mask = mask if attn_mask is None else attn_mask + mask
        dropout_p = self.attn_drop_rate if self.training else 0.
        return dot_product_attention(q, k, v, attn_mask, self.scale, dropout_p)


class HRFormerLocalAttention(BaseModule):
    """Self-attention in non-overlapping windows of a feature map.

    The map is zero-padded on both sides (centred) to a multiple of the window size, cut into
    contiguous windows, attended window by window and cropped back, as in the official code
    and MMPose's ``LocalWindowSelfAttention``.

    Args:
        embed_dims (int): Number of channels.
        num_heads (int): Number of attention heads.
        window_size (int | Sequence[int]): Window size.
        with_rpe (bool): Whether the relative position bias is added. Defaults to True.
        with_pad_mask (bool): Whether padded tokens are masked out as keys. The official code
            does not mask them. Defaults to False.
        init_cfg (dict, optional): Initialization config. Defaults to None.
        **kwargs: Passed to :class:`HRFormerWindowMSA`.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 window_size,
                 with_rpe: bool = True,
                 with_pad_mask: bool = False,
                 init_cfg: dict | None = None,
                 **kwargs) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(window_size, int):
            window_size = (window_size, window_size)
        self.window_size = tuple(window_size)
        self.with_pad_mask = with_pad_mask
        self.attn = HRFormerWindowMSA(
            embed_dims, num_heads, self.window_size, with_rpe=with_rpe, **kwargs)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        """Attend in windows.

        Args:
            x (Tensor): Tokens of shape (B, H*W, C).
            H (int): Feature map height.
            W (int): Feature map width.

        Returns:
            Tensor: Shape (B, H*W, C).
        """
        B, N, C = x.shape
        Wh, Ww = self.window_size
        # Integer arithmetic (not math.ceil), and padding whatever its amount while traced:
        # an ONNX trace then computes the window grid from the input size (--dynamic).
        traced = torch.jit.is_tracing()
        nh, nw = (H + Wh - 1) // Wh, (W + Ww - 1) // Ww  # ceil; ONNX's Div truncates
        pad_h, pad_w = nh * Wh - H, nw * Ww - W
        pads = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
        x = x.view(B, H, W, C)
        if traced or pad_h or pad_w:
            x = F.pad(x, (0, 0) + pads)
        windows = x.view(B, nh, Wh, nw, Ww, C).transpose(2, 3).reshape(-1, Wh * Ww, C)

        mask = None
        if self.with_pad_mask and (traced or pad_h or pad_w):
            mask = x.new_zeros(1, 1, H, W)
            mask = F.pad(mask, pads, value=float('-inf'))
            mask = mask.view(nh, Wh, nw, Ww).transpose(1, 2).reshape(nh * nw, 1, Wh * Ww)
            mask = mask.expand(-1, Wh * Ww, -1).repeat(B, 1, 1)

        out = self.attn.attend(windows, mask)
        # back to the padded map, then crop, then project: the projection acts per token, so
        # the padded tokens need not be projected
        num_heads, head_dims = out.shape[1], out.shape[3]
        out = out.view(B, nh, nw, num_heads, Wh, Ww, head_dims).permute(0, 1, 4, 2, 5, 3, 6)
        out = out.reshape(B, nh * Wh, nw * Ww, C)
        if traced:  # slices with traced bounds export wrongly; gathers do not
            rows = torch.arange(H, device=out.device) + pad_h // 2
            cols = torch.arange(W, device=out.device) + pad_w // 2
            out = out.index_select(1, rows).index_select(2, cols)
        elif pad_h or pad_w:
            out = out[:, pad_h // 2:pad_h // 2 + H, pad_w // 2:pad_w // 2 + W]
        out = self.attn.proj_drop(self.attn.proj(out.reshape(B, N, C)))
        return out


class HRFormerFFN(CrossFFN):
    """MMPose's ``CrossFFN`` (1x1 conv, BN, GELU, dw3x3, BN, GELU, 1x1 conv, BN, GELU) computed
    on tokens.

    The 1x1 convolutions run as linear layers on the (B, H*W, C) tokens, the activations on the
    tokens too, the batch norms and the depthwise convolution on the channels-last
    (B, C, H, W) view of the same memory, so no layout copy is made. In inference the batch
    norms are folded into the layers before them and the activations run in place. Parameters
    and results are those of ``CrossFFN``.
    """

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        """Forward tokens of shape (B, H*W, C)."""
        layers = ((self.fc1, self.norm1, self.act1), (self.dw3x3, self.norm2, self.act2),
                  (self.fc2, self.norm3, self.act3))
        fold = not self.training and all(_is_frozen_bn(norm) for _, norm, _ in layers)
        for layer, norm, act in layers:
            weight, bias = layer.weight, layer.bias
            if fold:
                weight, bias = _fold_bn(weight, bias, norm)
            if layer is self.dw3x3:
                x = _tokens_to_map(x, H, W)
                x = _map_to_tokens(
                    F.conv2d(x, weight, bias, layer.stride, layer.padding, layer.dilation,
                             layer.groups))
            else:
                x = F.linear(x, weight.flatten(1), bias)
            if not fold:
                x = _map_to_tokens(norm(_tokens_to_map(x, H, W)))
            x = _activate(act, x)
        return x


class HRFormerBlock(BaseModule):
    """HRFormer transformer block: ``x + attn(LN(x))`` then ``x + FFN(LN(x))``.

    Attribute names match MMPose's ``HRFormerBlock`` (``norm1``, ``attn``, ``norm2``, ``ffn``),
    so MMPose checkpoints load unchanged.

    Args:
        in_features (int): Input channels.
        out_features (int): Output channels.
        num_heads (int): Number of attention heads.
        window_size (int): Window size. Defaults to 7.
        mlp_ratio (float): Hidden-channel ratio of the FFN. Defaults to 4.
        drop_path (float): Stochastic depth rate. Defaults to 0.
        act_cfg (dict): Activation of the FFN. Defaults to GELU.
        norm_cfg (dict): Norm of the FFN convolutions. Defaults to SyncBN.
        transformer_norm_cfg (dict): Norm before attention and FFN. Defaults to LN, eps 1e-6.
        init_cfg (dict, optional): Initialization config. Defaults to None.
        **kwargs: ``with_rpe``, ``with_pad_mask`` and :class:`HRFormerWindowMSA` options.
    """

    expansion = 1

    def __init__(self,
                 in_features: int,
                 out_features: int,
                 num_heads: int,
                 window_size: int = 7,
                 mlp_ratio: float = 4.0,
                 drop_path: float = 0.0,
                 act_cfg: dict | None = None,
                 norm_cfg: dict | None = None,
                 transformer_norm_cfg: dict | None = None,
                 init_cfg: dict | None = None,
                 **kwargs) -> None:
        super().__init__(init_cfg=init_cfg)
        act_cfg = act_cfg or dict(type='GELU')
        norm_cfg = norm_cfg or dict(type='SyncBN')
        transformer_norm_cfg = transformer_norm_cfg or dict(type='LN', eps=1e-6)
        self.num_heads = num_heads
        self.window_size = window_size
        self.mlp_ratio = mlp_ratio
        self.norm1 = build_norm_layer(transformer_norm_cfg, in_features)[1]
        self.attn = HRFormerLocalAttention(
            in_features, num_heads=num_heads, window_size=window_size, **kwargs)
        self.norm2 = build_norm_layer(transformer_norm_cfg, out_features)[1]
        self.ffn = HRFormerFFN(
            in_features=in_features,
            hidden_features=int(in_features * mlp_ratio),
            out_features=out_features,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            dw_act_cfg=act_cfg)
        self.drop_path = build_drop_path(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Forward a (B, C, H, W) map; the result is channels-last."""
        B, C, H, W = x.shape
        # free for a channels-last input (the output of the previous block), else one copy
        x = x.permute(0, 2, 3, 1).reshape(B, H * W, C).contiguous()
        x = x + self.drop_path(self.attn(self.norm1(x), H, W))
        out = self.drop_path(self.ffn(self.norm2(x), H, W))
        if torch.is_grad_enabled() and (x.requires_grad or out.requires_grad):
            x = x + out
        else:  # x is this block's own tensor here, so it can be updated in place
            x += out
        return x.view(B, H, W, C).permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return (f'num_heads={self.num_heads}, window_size={self.window_size}, '
                f'mlp_ratio={self.mlp_ratio}')


class HRFormerModule(HRFomerModule):
    """MMPose's HRFormer module whose fuse layers resize to the exact branch size.

    Args:
        *args: Positional arguments of MMPose's ``HRFomerModule``.
        upsample_cfg (dict): ``mode`` and ``align_corners`` of the ``nn.Upsample`` in the fuse
            layers, and ``resize_align_corners`` (default False) of the bilinear resize that
            follows it when the upsampled map is larger than the target branch.
        **kwargs: Keyword arguments of MMPose's ``HRFomerModule``.
    """

    def __init__(self, *args, upsample_cfg: dict | None = None, **kwargs) -> None:
        upsample_cfg = dict(upsample_cfg or dict(mode='bilinear', align_corners=False))
        self.resize_align_corners = upsample_cfg.pop('resize_align_corners', False)
        super().__init__(*args, upsample_cfg=upsample_cfg, **kwargs)

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        """Run the branches, then fuse them into each output resolution."""
        if self.num_branches == 1:
            return [self.branches[0](x[0])]
        x = [branch(feat) for branch, feat in zip(self.branches, x)]
        outs = []
        for i, fuse_layer in enumerate(self.fuse_layers):
            y = x[0] if i == 0 else _run_layers(fuse_layer[0], x[0])
            for j in range(1, self.num_branches):
                if j == i:
                    y = y + x[j]
                    continue
                z = _run_layers(fuse_layer[j], x[j])
                # Traced, always resized (an identity at equal sizes), as the sizes may differ
                # at another input size of a --dynamic ONNX graph.
                if j > i and (torch.jit.is_tracing() or z.shape[2:] != x[i].shape[2:]):
                    z = F.interpolate(
                        z,
                        size=x[i].shape[2:],
                        mode='bilinear',
                        align_corners=self.resize_align_corners)
                y = y + z
            outs.append(self.relu(y))
        return outs


@MODELS.register_module()
class OfficialHRFormer(MMPoseHRFormer):
    """HRFormer backbone (`HRFormer: High-Resolution Transformer for Dense Prediction
    <https://arxiv.org/abs/2110.09408>`_), with the official HRT semantics as options.

    Registered as ``OfficialHRFormer``, not ``HRFormer``: that is MMPose's name, and a pose
    config without ``_scope_='mmdense'`` must not silently get one or the other (mmdense's
    ``HRFormer`` of earlier versions is this class; see ``mmdense.registry.RENAMED_MODELS``).

    Takes MMPose's ``HRFormer`` arguments and ``extra`` layout; state dicts are MMPose's (use
    ``tools/model_converters/hrformer2mmdense.py`` for official HRT checkpoints). ``extra``
    options beyond MMPose's:

    - ``with_rpe`` (bool, default True): add the relative position bias to the attention
      logits. The table always exists. The official pose models were trained with False,
      the official segmentation models with True.
    - ``upsample`` (dict): ``mode``/``align_corners`` of the fuse-layer ``nn.Upsample``
      (default bilinear, False) and ``resize_align_corners`` of the exact-size resize after it
      (default False). Official segmentation: ``dict(mode='nearest', align_corners=None,
      resize_align_corners=True)``.
    - ``stage4.multiscale_output`` (bool, default False): False returns only the highest
      resolution branch (pose), True all four (segmentation).

    Args:
        extra (dict): Architecture, as for MMPose's ``HRFormer``.
        **kwargs: Other arguments of MMPose's ``HRFormer`` (``in_channels``, ``norm_cfg``,
            ``transformer_norm_cfg``, ``norm_eval``, ``with_cp``, ``frozen_stages``,
            ``init_cfg``...).
    """

    blocks_dict = {'BOTTLENECK': Bottleneck, 'HRFORMERBLOCK': HRFormerBlock}

    def __init__(self, extra: dict, **kwargs) -> None:
        self._check_extra(extra)
        super().__init__(extra, **kwargs)

    @staticmethod
    def _check_extra(extra: dict) -> None:
        for stage in ('stage1', 'stage2', 'stage3', 'stage4'):
            if stage not in extra:
                raise KeyError(f'OfficialHRFormer: `extra` has no {stage!r} entry')
        if 'drop_path_rate' not in extra:
            raise KeyError('OfficialHRFormer: `extra` has no `drop_path_rate` entry')
        for stage in ('stage2', 'stage3', 'stage4'):
            cfg = extra[stage]
            if cfg.get('block') != 'HRFORMERBLOCK':
                raise ValueError(f"OfficialHRFormer: extra.{stage}.block must be 'HRFORMERBLOCK', "
                                 f"got {cfg.get('block')!r}")
            for key in ('num_blocks', 'num_channels', 'num_heads', 'mlp_ratios',
                        'window_sizes'):
                if len(cfg.get(key, ())) != cfg['num_branches']:
                    raise ValueError(
                        f'OfficialHRFormer: extra.{stage}.{key} must have num_branches='
                        f"{cfg['num_branches']} entries, got {cfg.get(key)!r}")
            for channels, heads in zip(cfg['num_channels'], cfg['num_heads']):
                if channels % heads:
                    raise ValueError(f'OfficialHRFormer: extra.{stage}: {channels} channels are '
                                     f'not divisible by {heads} heads')

    def forward(self, x: torch.Tensor) -> tuple:
        """Forward images; returns contiguous (B, C, H, W) maps, highest resolution first.

        As MMPose's ``HRNet.forward``, with the stem and transition batch norms folded into
        their convolutions in inference.
        """
        x = self.relu(_run_layers([self.conv1, self.norm1], x))
        x = self.relu(_run_layers([self.conv2, self.norm2], x))
        if not self.training:
            # Channels-last from here on: the folded 1x1 convolutions of stage 1 run as linear
            # layers and the transformer stages read the maps as tokens without copies.
            x = x.contiguous(memory_format=torch.channels_last)
        for block in self.layer1:
            x = _run_bottleneck(block, x)
        y_list = [x]
        for i in (1, 2, 3):
            transition = getattr(self, f'transition{i}')
            num_branches = getattr(self, f'stage{i + 1}_cfg')['num_branches']
            x_list = [
                y_list[j] if transition[j] is None else _run_layers(transition[j], y_list[-1])
                for j in range(num_branches)
            ]
            y_list = getattr(self, f'stage{i + 1}')(x_list)
        return tuple(y.contiguous() for y in y_list)

    def _make_stage(self, layer_config: dict, num_inchannels: list[int],
                    multiscale_output: bool = True):
        """Build one stage of :class:`HRFormerModule`."""
        num_modules = layer_config['num_modules']
        num_blocks = layer_config['num_blocks']
        drop_path_rates = layer_config['drop_path_rates']
        modules = []
        for i in range(num_modules):
            modules.append(
                HRFormerModule(
                    layer_config['num_branches'],
                    self.blocks_dict[layer_config['block']],
                    num_blocks,
                    num_inchannels,
                    layer_config['num_channels'],
                    layer_config['num_heads'],
                    layer_config['window_sizes'],
                    layer_config['mlp_ratios'],
                    # only the last module of a stage may drop the low resolutions
                    multiscale_output or i < num_modules - 1,
                    drop_paths=drop_path_rates[num_blocks[0] * i:num_blocks[0] * (i + 1)],
                    with_rpe=self.with_rpe,
                    with_pad_mask=self.with_pad_mask,
                    conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg,
                    transformer_norm_cfg=self.transformer_norm_cfg,
                    with_cp=self.with_cp,
                    upsample_cfg=self.upsample_cfg))
            num_inchannels = modules[-1].get_num_inchannels()
        return nn.Sequential(*modules), num_inchannels
