"""Cheap measurements of a candidate: parameters, FLOPs and latency.

Latency is timed in eval and inference mode by ``runners.timing.time_calls``
(warm-up, blocks of forward passes, median and IQR, retries when unsteady). On
CPU the thread count is set for the measurement and restored after; on CUDA,
calls are timed with CUDA events after synchronisation.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` at batch 1 and
count multiply and add separately (FLOPs = 2 x MACs for convolutions and
matrix products). Where it counts zero, formulas are added for the operations
attention modules are made of, so that SE or ECA are not free: average pooling
and means (one add per input element), elementwise sigmoid, hard-swish,
multiply and add (one FLOP per output element), softmax (three per element:
exp, sum, divide). ReLU, BatchNorm and LayerNorm stay uncounted (folded or
negligible at inference).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from runners.timing import Latency, time_calls

__all__ = ["Latency", "count_flops", "count_params", "cpu_threads", "measure_latency", "time_calls"]


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _numel(shape: Any) -> int:
    return math.prod(shape) if shape is not None else 0


def _per_output(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    return _numel(out_shape)


def _per_input(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    return _numel(args[0])


def _softmax(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    return 3 * _numel(out_shape)


_aten = torch.ops.aten
ATTENTION_FLOP_FORMULAS = {
    _aten.adaptive_avg_pool2d: _per_input,
    _aten._adaptive_avg_pool2d: _per_input,
    _aten.mean: _per_input,
    _aten.sigmoid: _per_output,
    _aten.hardswish: _per_output,
    _aten.hardsigmoid: _per_output,
    _aten.mul: _per_output,
    _aten.add: _per_output,
    _aten.add_: _per_output,
    _aten.sub: _per_output,
    _aten.div: _per_output,
    _aten.pow: _per_output,
    _aten.sum: _per_input,
    _aten.amax: _per_input,
    _aten.upsample_nearest2d: _per_output,
    _aten.softmax: _softmax,
    _aten._softmax: _softmax,
}


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass at ``input_shape`` (batch included)."""
    device = next(model.parameters(), torch.empty(0)).device  # parameter-free: the CPU
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False, custom_mapping=ATTENTION_FLOP_FORMULAS)
    with torch.inference_mode(), counter:
        model(torch.zeros(input_shape, device=device))
    model.train(was_training)
    return int(counter.get_total_flops())


@contextmanager
def cpu_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` intra-op threads, then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, ...],
    *,
    threads: int = 1,
    baseline: nn.Module | None = None,
    **timing: Any,
) -> Latency:
    """Forward latency of ``model`` for one input of ``input_shape`` (see ``time_calls``).

    The model is timed in eval and inference mode on the device its
    parameters live on. With ``baseline`` (the backbone without attention),
    both are timed in alternating blocks and ``Latency.ratio`` is set. On CUDA
    the peak memory of one forward pass is recorded.

    Raises:
        ValueError: ``threads`` below 1 or ``repeats`` below 4.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    device = next(model.parameters(), torch.empty(0)).device  # parameter-free: the CPU
    models = [model] + ([baseline.to(device)] if baseline is not None else [])
    was_training = [m.training for m in models]
    for m in models:
        m.eval()
    x = torch.randn(input_shape, device=device)
    cuda = device if device.type == "cuda" else None
    try:
        with torch.inference_mode(), cpu_threads(threads):
            return time_calls(
                lambda: model(x),
                baseline=(lambda: models[1](x)) if baseline is not None else None,
                cuda=cuda, device=str(device), batch_size=input_shape[0],
                threads=threads if cuda is None else 0,
                peak_memory=_peak_memory(model, x) if cuda is not None else None, **timing)
    finally:
        for m, t in zip(models, was_training, strict=True):
            m.train(t)


def _peak_memory(model: nn.Module, x: torch.Tensor) -> int:
    """Peak CUDA bytes allocated during one forward pass."""
    torch.cuda.synchronize(x.device)
    torch.cuda.reset_peak_memory_stats(x.device)
    before = torch.cuda.memory_allocated(x.device)
    model(x)
    torch.cuda.synchronize(x.device)
    return int(torch.cuda.max_memory_allocated(x.device) - before)
