"""Building blocks of MPViT (Lee et al., CVPR 2022).

The convolutional parts (stem, multi-scale patch embedding, the local ``InvRes`` path and the
aggregation) are plain modules running on channels-last feature maps. The transformer paths of
one stage run **batched**: the ``P`` parallel encoders of a stage see inputs of identical shape,
so their weights are stacked along a leading path dimension and every layer runs once for all
paths (batched matmuls on path-major ``(P, B*N, C)`` tokens; one grouped depthwise convolution
over all paths per position-encoding window). The residual stream is kept as ``(B, N, P, C)``,
which is also the memory layout of a ``(B, P*C, H, W)`` channels-last map, so the conv position
encodings and the final concatenation need no transposes. Without autograd (inference) the
layers reuse their buffers in place.

Creation order and default initialisation mirror the official implementation path by path, so a
seeded build reproduces the official seeded build exactly.
"""
import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_activation_layer, build_norm_layer

# mmengine's inverse-CDF sampler, as timm's used by the official code (torch's own
# trunc_normal_ now samples differently, which would break seeded reproduction).
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor
from torch.utils.checkpoint import checkpoint


def _default_init_(weight: Tensor, bias: Tensor | None = None) -> None:
    """PyTorch's default ``nn.Linear``/``nn.Conv2d`` init, applied to one path's slice."""
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        nn.init.uniform_(bias, -bound, bound)


def _drop_path(x: Tensor, drop_prob: float, training: bool) -> Tensor:
    """Stochastic depth on ``(B, N, P, C)``: one decision per sample and path."""
    if drop_prob == 0. or not training:
        return x
    keep_prob = 1 - drop_prob
    mask = x.new_empty(x.shape[0], 1, x.shape[2], 1).bernoulli_(keep_prob)
    return x * mask.div_(keep_prob)


class ConvBN(nn.Module):
    """Bias-free convolution, normalisation and optional activation (``Conv2d_BN``).

    The conv weight is re-drawn from ``N(0, 2 / (k * k * out_channels))`` as in the official code.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Kernel size. Defaults to 1.
        stride (int): Stride. Defaults to 1.
        padding (int): Padding. Defaults to 0.
        norm_cfg (dict, optional): Normalisation config. Defaults to ``dict(type='BN')``.
        act_cfg (dict, optional): Activation config; None for no activation.
            Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 1,
                 stride: int = 1,
                 padding: int = 0,
                 norm_cfg: dict | None = None,
                 act_cfg: dict | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, bias=False)
        # Always named ``bn`` (whatever the norm type) to keep the official key names.
        self.bn = build_norm_layer(norm_cfg or dict(type='BN'), out_channels)[1]
        nn.init.normal_(
            self.conv.weight, std=math.sqrt(2.0 / (kernel_size * kernel_size * out_channels)))
        self.act = build_activation_layer(act_cfg) if act_cfg else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))


class DWConvPatchEmbed(nn.Module):
    """Depthwise-separable patch embedding: dw kxk -> pw 1x1 -> norm -> act.

    Args:
        channels (int): Input and output channels.
        kernel_size (int): Depthwise kernel size. Defaults to 3.
        stride (int): Depthwise stride. Defaults to 1.
        norm_cfg (dict, optional): Normalisation config. Defaults to ``dict(type='BN')``.
        act_cfg (dict, optional): Activation config. Defaults to ``dict(type='HSwish')``.
    """

    def __init__(self,
                 channels: int,
                 kernel_size: int = 3,
                 stride: int = 1,
                 norm_cfg: dict | None = None,
                 act_cfg: dict | None = None) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(
            channels, channels, kernel_size, stride, (kernel_size - 1) // 2,
            groups=channels, bias=False)
        self.pwconv = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn = build_norm_layer(norm_cfg or dict(type='BN'), channels)[1]
        self.act = build_activation_layer(act_cfg or dict(type='HSwish'))
        # The official fan-out ignores groups here (unlike in ``InvertedResidual``).
        nn.init.normal_(
            self.dwconv.weight, std=math.sqrt(2.0 / (kernel_size * kernel_size * channels)))
        nn.init.normal_(self.pwconv.weight, std=math.sqrt(2.0 / channels))

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.pwconv(self.dwconv(x))))


class MultiScalePatchEmbed(nn.Module):
    """Chained patch embeddings of one stage (official ``Patch_Embed_stage``).

    Path ``k`` embeds path ``k-1``'s output, so the receptive fields grow as 3x3, 5x5, 7x7... at one
    sequence length. Only the first embedding downsamples.

    Args:
        channels (int): Channels of the stage.
        num_paths (int): Number of paths.
        downsample (bool): Whether the first embedding has stride 2.
        norm_cfg (dict, optional): Normalisation config. Defaults to ``dict(type='BN')``.
    """

    def __init__(self, channels: int, num_paths: int, downsample: bool,
                 norm_cfg: dict | None = None) -> None:
        super().__init__()
        self.patch_embeds = nn.ModuleList([
            DWConvPatchEmbed(
                channels, 3, stride=2 if downsample and idx == 0 else 1, norm_cfg=norm_cfg)
            for idx in range(num_paths)
        ])

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = []
        for embed in self.patch_embeds:
            x = embed(x)
            outs.append(x)
        return outs


class InvertedResidual(nn.Module):
    """Local convolutional path (official ``ResBlock``/``InvRes``).

    1x1 ConvBN + act -> depthwise 3x3 (no bias) -> norm -> act -> 1x1 ConvBN, plus identity.

    Args:
        channels (int): Input/output channels.
        hidden_channels (int, optional): Hidden channels. Defaults to ``channels``.
        norm_cfg (dict, optional): Normalisation config. Defaults to ``dict(type='BN')``.
        act_cfg (dict, optional): Activation config. Defaults to ``dict(type='HSwish')``.
    """

    def __init__(self,
                 channels: int,
                 hidden_channels: int | None = None,
                 norm_cfg: dict | None = None,
                 act_cfg: dict | None = None) -> None:
        super().__init__()
        hidden = hidden_channels or channels
        norm_cfg = norm_cfg or dict(type='BN')
        act_cfg = act_cfg or dict(type='HSwish')
        self.conv1 = ConvBN(channels, hidden, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden, bias=False)
        self.norm = build_norm_layer(norm_cfg, hidden)[1]
        self.act = build_activation_layer(act_cfg)
        self.conv2 = ConvBN(hidden, channels, norm_cfg=norm_cfg)
        # The official block re-initialises its convs once more, with fan-out / groups.
        nn.init.normal_(self.conv1.conv.weight, std=math.sqrt(2.0 / hidden))
        nn.init.normal_(self.dwconv.weight, std=math.sqrt(2.0 / 9))
        nn.init.normal_(self.conv2.conv.weight, std=math.sqrt(2.0 / channels))

    def forward(self, x: Tensor) -> Tensor:
        feat = self.act(self.norm(self.dwconv(self.conv1(x))))
        return x + self.conv2(feat)


class _MultiPathLinearFunction(torch.autograd.Function):
    """``out[p] = x[p] @ weight[p]^T + bias[p]`` as one GEMM per path.

    ``torch.baddbmm`` spreads a small batch of paths over the threads (3 paths on 2 threads
    leave one idle half the time); per-path GEMMs are each multi-threaded. The products write
    straight into slices of one output, so batching costs no copy, forward or backward.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
        out = x.new_empty(x.shape[0], x.shape[1], weight.shape[1])
        for o, x_p, w_p, b_p in zip(out.unbind(0), x.unbind(0), weight.unbind(0),
                                    bias.unbind(0)):
            torch.addmm(b_p, x_p, w_p.t(), out=o)
        ctx.save_for_backward(x, weight)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:
        # ``grad`` may be a path-major view of a token-major tensor: BLAS reads its rows with
        # a leading dimension, no copy needed.
        x, weight = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        grads = grad.unbind(0)
        if ctx.needs_input_grad[0]:
            grad_x = torch.empty_like(x)
            for o, g_p, w_p in zip(grad_x.unbind(0), grads, weight.unbind(0)):
                torch.mm(g_p, w_p, out=o)
        if ctx.needs_input_grad[1]:
            grad_w = torch.empty_like(weight)
            for o, g_p, x_p in zip(grad_w.unbind(0), grads, x.unbind(0)):
                torch.mm(g_p.t(), x_p, out=o)
        if ctx.needs_input_grad[2]:
            grad_b = grad.sum(1)
        return grad_x, grad_w, grad_b


class MultiPathLinear(nn.Module):
    """``P`` independent linear layers applied to ``P`` inputs.

    Args:
        num_paths (int): Number of paths ``P``.
        in_features (int): Input features.
        out_features (int): Output features.

    Shapes:
        input ``(P, M, in_features)`` -> output ``(P, M, out_features)``.
    """

    def __init__(self, num_paths: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_paths, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(num_paths, out_features))

    def forward(self, x: Tensor) -> Tensor:
        if torch.jit.is_tracing():
            # The same product in ops that FLOP counters (mmengine.analysis) recognise.
            return torch.matmul(x, self.weight.transpose(1, 2)) + self.bias.unsqueeze(1)
        return _MultiPathLinearFunction.apply(x.contiguous(), self.weight, self.bias)

    def extra_repr(self) -> str:
        p, o, i = self.weight.shape
        return f'num_paths={p}, in_features={i}, out_features={o}'


class MultiPathLayerNorm(nn.Module):
    """LayerNorm of every path, with per-path affine parameters.

    Shapes:
        input ``(B, N, P, C)`` -> output ``(P, B*N, C)``, contiguous: the layout the
        following batched matmul reads without a copy.
    """

    def __init__(self, num_paths: int, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_paths, channels))
        self.bias = nn.Parameter(torch.zeros(num_paths, channels))

    def forward(self, x: Tensor) -> Tensor:
        B, N, P, C = x.shape
        # An explicit path-major copy first: layer_norm on the strided view is far slower.
        out = x.view(B * N, P, C).transpose(0, 1).contiguous()
        # Unit affine parameters select layer_norm's faster kernel; the per-path affine follows.
        # The parameter's (static) width, not x's: an ONNX trace keeps it a constant.
        channels = self.weight.shape[1]
        ones = torch.ones(channels, dtype=x.dtype, device=x.device)
        out = F.layer_norm(out, (channels, ), ones, torch.zeros_like(ones), eps=self.eps)
        if torch.is_grad_enabled() or torch.onnx.is_in_onnx_export():
            return torch.addcmul(self.bias.unsqueeze(1), out, self.weight.unsqueeze(1))
        return torch.addcmul(self.bias.unsqueeze(1), out, self.weight.unsqueeze(1), out=out)


class MultiPathConvPosEnc(nn.Module):
    """Convolutional position encoding (3x3 depthwise conv + residual) of every path.

    One module serves all layers of an encoder (the official code shares it too).
    """

    def __init__(self, num_paths: int, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.weight = nn.Parameter(torch.empty(num_paths, channels, 1, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(num_paths, channels))

    def fused_kernel(self) -> tuple[Tensor, Tensor]:
        """Weight ``(P*C, 1, k, k)`` with the residual folded in (+1 on the centre tap)."""
        k = self.kernel_size
        identity = torch.zeros(k * k, dtype=self.weight.dtype, device=self.weight.device)
        identity[k * k // 2] = 1
        weight = self.weight.flatten(0, 1) + identity.view(1, 1, k, k)
        return weight, self.bias.flatten()

    @staticmethod
    def apply_fused(x: Tensor, hw: tuple[int, int], kernel: tuple[Tensor, Tensor]) -> Tensor:
        """``(B, N, P, C)`` -> ``x + dwconv(x)``, same shape, with a :meth:`fused_kernel`."""
        B, N, P, C = x.shape
        weight, bias = kernel
        # A (B, N, P*C) tensor is a channels-last (B, P*C, H, W) map: no copy either way.
        img = x.view(B, *hw, P * C).permute(0, 3, 1, 2)
        out = F.conv2d(img, weight, bias, padding=weight.shape[-1] // 2, groups=P * C)
        return out.permute(0, 2, 3, 1).reshape(B, N, P, C)


class MultiPathConvRelPosEnc(nn.Module):
    """Convolutional relative position encoding of CoaT for every path: ``q * dwconv(v)``.

    Head splits use different windows (official default ``{3: 2, 5: 3, 7: 3}``: 2 heads with a
    3x3 window, 3 with 5x5, 3 with 7x7). Each window runs as one depthwise convolution over
    all paths.

    Args:
        num_paths (int): Number of paths.
        head_channels (int): Channels per head.
        window (dict[int, int]): Window size -> number of heads.
    """

    def __init__(self, num_paths: int, head_channels: int, window: dict[int, int]) -> None:
        super().__init__()
        self.window = dict(window)
        self.conv_weights = nn.ParameterList()
        self.conv_biases = nn.ParameterList()
        for size, heads in self.window.items():
            channels = heads * head_channels
            self.conv_weights.append(
                nn.Parameter(torch.empty(num_paths, channels, 1, size, size)))
            self.conv_biases.append(nn.Parameter(torch.empty(num_paths, channels)))

    def forward(self, q: Tensor, v: Tensor, hw: tuple[int, int]) -> Tensor:
        """``q``, ``v``: ``(P, B, N, h, ch)`` -> ``q * dwconv(v)``: ``(P, B, N, h, ch)``."""
        P, B, N, h, ch = v.shape
        splits = list(self.window.values())
        outs = []
        # split (not slicing): its backward is one concatenation instead of zero-filled copies.
        for weight, bias, q_s, v_s in zip(self.conv_weights, self.conv_biases,
                                          q.split(splits, dim=3), v.split(splits, dim=3)):
            heads = v_s.shape[3]
            # (P, B, H, W, heads, ch) -> channels-last (B, P*heads*ch, H, W): one copy.
            v_s = v_s.reshape(P, B, *hw, heads * ch).permute(1, 2, 3, 0, 4)
            v_s = v_s.reshape(B, *hw, P * heads * ch).permute(0, 3, 1, 2)
            conv = F.conv2d(v_s, weight.flatten(0, 1), bias.flatten(),
                            padding=weight.shape[-1] // 2, groups=P * heads * ch)
            conv = conv.permute(0, 2, 3, 1).reshape(B, N, P, heads, ch).permute(2, 0, 1, 3, 4)
            outs.append(q_s * conv)
        return torch.cat(outs, dim=3)


class MultiPathFactorAttention(nn.Module):
    """Factorized attention with convolutional relative position encoding, all paths at once.

    ``out = proj(scale * q @ (softmax_N(k)^T @ v) + q * dwconv(v))`` with the softmax of ``k``
    taken over the tokens and ``scale = head_dim ** -0.5`` on the attention term only.
    ``softmax_N(k)^T @ v`` is exactly a scaled-dot-product attention whose queries are the
    identity matrix (scores ``I @ k^T = k^T``), so it runs through the fused kernel.

    Args:
        num_paths (int): Number of paths.
        embed_dims (int): Channels.
        num_heads (int): Number of heads.
        qk_scale (float, optional): Override of ``head_dim ** -0.5``.
    """

    def __init__(self, num_paths: int, embed_dims: int, num_heads: int,
                 qk_scale: float | None = None) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = qk_scale or (embed_dims // num_heads)**-0.5
        self.qkv = MultiPathLinear(num_paths, embed_dims, embed_dims * 3)
        self.proj = MultiPathLinear(num_paths, embed_dims, embed_dims)

    def forward(self, x: Tensor, hw: tuple[int, int], crpe: MultiPathConvRelPosEnc) -> Tensor:
        """``(P, B*N, C)`` normalised tokens -> ``(P, B*N, C)``."""
        P, M, C = x.shape
        N = hw[0] * hw[1]
        B = M // N
        h = self.num_heads
        ch = C // h
        qkv = self.qkv(x).view(P, B, N, 3, h, ch)
        q, k, v = qkv.unbind(3)  # (P, B, N, h, ch) views
        out = crpe(q, v, hw)  # (P, B, N, h, ch), contiguous

        qh, kh, vh = (t.reshape(P * B, N, h, ch).transpose(1, 2) for t in (q, k, v))
        if torch.jit.is_tracing():
            # The same function in ops that FLOP counters (mmengine.analysis) recognise.
            kv = torch.einsum('bhnk,bhnv->bhkv', kh.softmax(dim=2), vh)
        else:
            eye = torch.eye(ch, dtype=x.dtype, device=x.device).expand(P * B, h, ch, ch)
            kv = F.scaled_dot_product_attention(eye, kh, vh, scale=1.0)  # (P*B, h, ch, ch)
        factor = torch.matmul(qh, kv)  # (P*B, h, N, ch)
        out = out.view(P * B, N, h, ch).add_(factor.transpose(1, 2), alpha=self.scale)
        return self.proj(out.view(P, M, C))


class MultiPathEncoderLayer(nn.Module):
    """One MHCA block (cpe -> LN -> factorized attention -> LN -> MLP) for all paths.

    Args:
        num_paths (int): Number of paths.
        embed_dims (int): Channels.
        num_heads (int): Number of heads.
        mlp_ratio (float): Hidden/embed ratio of the MLP.
        drop_path_rate (float): Stochastic depth rate.
        act_cfg (dict, optional): MLP activation. Defaults to ``dict(type='GELU')``.
    """

    def __init__(self,
                 num_paths: int,
                 embed_dims: int,
                 num_heads: int,
                 mlp_ratio: float,
                 drop_path_rate: float = 0.,
                 act_cfg: dict | None = None) -> None:
        super().__init__()
        hidden = int(embed_dims * mlp_ratio)
        self.drop_path_rate = drop_path_rate
        self.attn = MultiPathFactorAttention(num_paths, embed_dims, num_heads)
        self.fc1 = MultiPathLinear(num_paths, embed_dims, hidden)
        act_cfg = act_cfg or dict(type='GELU')
        self.act = build_activation_layer(act_cfg)
        # Exact GELU can run in place on the hidden activations when no graph is recorded.
        self.inplace_gelu = act_cfg.get('type') == 'GELU' and act_cfg.get(
            'approximate', 'none') == 'none'
        self.fc2 = MultiPathLinear(num_paths, hidden, embed_dims)
        self.norm1 = MultiPathLayerNorm(num_paths, embed_dims)
        self.norm2 = MultiPathLayerNorm(num_paths, embed_dims)

    def linears(self) -> list[MultiPathLinear]:
        """Linear layers in the official creation/initialisation order."""
        return [self.attn.qkv, self.attn.proj, self.fc1, self.fc2]

    def forward(self, x: Tensor, hw: tuple[int, int], cpe: tuple[Tensor, Tensor],
                crpe: MultiPathConvRelPosEnc) -> Tensor:
        """``(B, N, P, C)`` -> ``(B, N, P, C)``."""
        x = MultiPathConvPosEnc.apply_fused(x, hw, cpe)
        out = self.attn(self.norm1(x), hw, crpe)
        x = self._residual(x, out)
        hidden = self.fc1(self.norm2(x))
        if self.inplace_gelu and not torch.is_grad_enabled():
            hidden = torch.ops.aten.gelu_(hidden)
        else:
            hidden = self.act(hidden)
        return self._residual(x, self.fc2(hidden))

    def _residual(self, x: Tensor, out: Tensor) -> Tensor:
        """``x + drop_path(out)`` with ``out`` ``(P, B*N, C)`` and ``x`` ``(B, N, P, C)``."""
        B, N, P, C = x.shape
        out = _drop_path(out.view(P, B, N, C).permute(1, 2, 0, 3), self.drop_path_rate,
                         self.training)
        if not torch.is_grad_enabled():
            return x.add_(out)
        return x + out


class MultiPathEncoder(nn.Module):
    """The ``P`` parallel transformer encoders of a stage, run as one batch.

    Equivalent to ``P`` official ``MHCAEncoder`` modules. The conv position encodings are shared
    by all layers of a path (as in the official code); parameters carry a leading path dim.

    Args:
        num_paths (int): Number of paths ``P``.
        embed_dims (int): Channels ``C``.
        num_layers (int): Layers per encoder.
        num_heads (int): Attention heads.
        mlp_ratio (float): MLP ratio.
        drop_path_rates (Sequence[float]): Stochastic depth rate per layer.
        crpe_window (dict[int, int]): Window size -> heads of the relative position encoding.
        with_cp (bool): Checkpoint every layer to save memory. Defaults to False.
    """

    def __init__(self,
                 num_paths: int,
                 embed_dims: int,
                 num_layers: int,
                 num_heads: int,
                 mlp_ratio: float,
                 drop_path_rates: Sequence[float],
                 crpe_window: dict[int, int],
                 with_cp: bool = False) -> None:
        super().__init__()
        self.num_paths = num_paths
        self.with_cp = with_cp
        self.cpe = MultiPathConvPosEnc(num_paths, embed_dims, 3)
        self.crpe = MultiPathConvRelPosEnc(num_paths, embed_dims // num_heads, crpe_window)
        self.layers = nn.ModuleList([
            MultiPathEncoderLayer(num_paths, embed_dims, num_heads, mlp_ratio,
                                  drop_path_rates[idx]) for idx in range(num_layers)
        ])
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """PyTorch default init, path by path in the official module creation order."""
        for p in range(self.num_paths):
            _default_init_(self.cpe.weight[p], self.cpe.bias[p])
            for w, b in zip(self.crpe.conv_weights, self.crpe.conv_biases):
                _default_init_(w[p], b[p])
            for layer in self.layers:
                for linear in layer.linears():
                    _default_init_(linear.weight[p], linear.bias[p])

    @torch.no_grad()
    def init_transformer_weights(self) -> None:
        """Official ``init_weights``: linear weights ~ TN(0, 0.02), zero bias; LN 1/0."""
        for p in range(self.num_paths):
            for layer in self.layers:
                for linear in layer.linears():
                    trunc_normal_(linear.weight[p], std=.02)
                    linear.bias[p].zero_()
        for layer in self.layers:
            for norm in (layer.norm1, layer.norm2):
                norm.weight.fill_(1.)
                norm.bias.zero_()

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """``P`` maps ``(B, C, H, W)`` -> ``(B, P*C, H, W)`` (channels-last memory)."""
        B, C, H, W = inputs[0].shape
        # Inputs are channels-last, so each permute is a free view of (B, H, W, C).
        x = torch.stack([t.permute(0, 2, 3, 1) for t in inputs], dim=3)
        x = x.view(B, H * W, self.num_paths, C)
        cpe = self.cpe.fused_kernel()
        for layer in self.layers:
            if self.with_cp and x.requires_grad:
                x = checkpoint(layer, x, (H, W), cpe, self.crpe, use_reentrant=False)
            else:
                x = layer(x, (H, W), cpe, self.crpe)
        return x.view(B, H, W, self.num_paths * C).permute(0, 3, 1, 2)


class MHCAStage(nn.Module):
    """Multi-path stage: local InvRes path + ``P`` transformer paths, concat, 1x1 ConvBN + act.

    Args:
        embed_dims (int): Channels of the stage.
        out_channels (int): Output channels.
        num_paths (int): Transformer paths.
        num_layers (int): Layers per encoder.
        num_heads (int): Attention heads.
        mlp_ratio (float): MLP ratio.
        drop_path_rates (Sequence[float]): Stochastic depth rate per layer.
        crpe_window (dict[int, int]): Window size -> heads of the relative position encoding.
        norm_cfg (dict, optional): Normalisation config of the conv parts. Defaults to
            ``dict(type='BN')``.
        with_cp (bool): Checkpoint the encoder layers. Defaults to False.
    """

    def __init__(self,
                 embed_dims: int,
                 out_channels: int,
                 num_paths: int,
                 num_layers: int,
                 num_heads: int,
                 mlp_ratio: float,
                 drop_path_rates: Sequence[float],
                 crpe_window: dict[int, int],
                 norm_cfg: dict | None = None,
                 with_cp: bool = False) -> None:
        super().__init__()
        self.encoders = MultiPathEncoder(num_paths, embed_dims, num_layers, num_heads, mlp_ratio,
                                         drop_path_rates, crpe_window, with_cp)
        self.inv_res = InvertedResidual(embed_dims, norm_cfg=norm_cfg)
        self.aggregate = ConvBN(embed_dims * (num_paths + 1), out_channels,
                                norm_cfg=norm_cfg, act_cfg=dict(type='HSwish'))

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        local = self.inv_res(inputs[0])
        return self.aggregate(torch.cat([local, self.encoders(inputs)], dim=1))
