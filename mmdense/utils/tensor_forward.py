"""Run the network part of a model on a plain tensor and reduce what it returns, for the
analysis tools (FLOPs, benchmarks) and the GPU checks, which time or count the network alone."""
from __future__ import annotations

import torch
from torch import nn


def sum_outputs(outputs) -> torch.Tensor:
    """Reduce any nesting of tensors (dict/list/tuple) to a scalar, for a backward pass."""
    if isinstance(outputs, torch.Tensor):
        return outputs.float().mean()
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        terms = [sum_outputs(o) for o in outputs]
        terms = [t for t in terms if t is not None]
        return torch.stack(terms).sum() if terms else None
    return None


def tensor_forward(model: nn.Module, inputs: torch.Tensor):
    """Run the network part of an OpenMMLab model: ``forward(mode='tensor')`` when it has one."""
    try:
        return model(inputs, None, mode='tensor')
    except TypeError:
        return model(inputs)
