"""Cheap measurements of a candidate: parameters, FLOPs and latency.

Latency is timed in eval and inference mode after a warm-up, as ``repeats``
blocks of ``number`` forward passes each (``number`` calibrated so one block
takes at least ``min_block_ms``); the result is the median and inter-quartile
range of the per-call times of the blocks. When IQR/median exceeds
``max_rel_iqr`` the whole measurement is repeated, at most ``max_retries``
times, keeping the steadiest, and the retries are recorded. On CPU the thread
count is set for the measurement and restored after; on CUDA, calls are timed
with CUDA events after synchronisation.

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
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class Latency:
    """One latency measurement, with everything needed to reproduce it."""

    median_ms: float
    iqr_ms: float
    min_ms: float
    max_ms: float
    device: str
    batch_size: int
    threads: int
    blocks: int
    calls_per_block: int
    retries: int

    @property
    def rel_iqr(self) -> float:
        return self.iqr_ms / self.median_ms if self.median_ms > 0 else float("inf")

    def to_dict(self) -> dict:
        return asdict(self)


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
    _aten.mul: _per_output,
    _aten.add: _per_output,
    _aten.add_: _per_output,
    _aten.softmax: _softmax,
    _aten._softmax: _softmax,
}


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass at ``input_shape`` (batch included)."""
    device = next(model.parameters()).device
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


def _quartiles(samples: list[float]) -> tuple[float, float, float]:
    q1, med, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return q1, med, q3


def _time_blocks(model: nn.Module, x: torch.Tensor, *, warmup: int, repeats: int,
                 min_block_ms: float) -> tuple[list[float], int]:
    cuda = x.device.type == "cuda"

    def block(number: int) -> float:
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize(x.device)
            start.record()
            for _ in range(number):
                model(x)
            end.record()
            torch.cuda.synchronize(x.device)
            return start.elapsed_time(end) / number
        t0 = time.perf_counter()
        for _ in range(number):
            model(x)
        return (time.perf_counter() - t0) * 1e3 / number

    for _ in range(warmup):
        model(x)
    one = block(1)
    number = max(1, int(min_block_ms / max(one, 1e-3)))
    return [block(number) for _ in range(repeats)], number


def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, ...],
    *,
    threads: int = 1,
    warmup: int = 10,
    repeats: int = 21,
    min_block_ms: float = 10.0,
    max_rel_iqr: float = 0.10,
    max_retries: int = 2,
) -> Latency:
    """Forward latency of ``model`` for one input of ``input_shape``.

    The model is timed on the device its parameters live on.

    Raises:
        ValueError: ``threads`` or ``repeats`` below 1 (``repeats`` below 4).
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if repeats < 4:
        raise ValueError(f"repeats must be >= 4 to give quartiles, got {repeats}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    x = torch.randn(input_shape, device=device)
    best: Latency | None = None
    with torch.inference_mode(), cpu_threads(threads):
        for attempt in range(max_retries + 1):
            samples, number = _time_blocks(model, x, warmup=warmup, repeats=repeats,
                                           min_block_ms=min_block_ms)
            q1, med, q3 = _quartiles(samples)
            lat = Latency(med, q3 - q1, min(samples), max(samples), str(device), input_shape[0],
                          threads if device.type == "cpu" else 0, repeats, number, attempt)
            if best is None or lat.rel_iqr < best.rel_iqr:
                best = Latency(**{**lat.to_dict(), "retries": attempt})
            if lat.rel_iqr <= max_rel_iqr:
                break
    model.train(was_training)
    assert best is not None
    return best
