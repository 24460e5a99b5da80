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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class Latency:
    """One latency measurement, with everything needed to reproduce it.

    With a baseline, ``ratio`` is the median over rounds of candidate/baseline
    block times, measured interleaved so that slow drift of a shared machine
    cancels out; ``baseline_median_ms`` is the baseline's own median.
    """

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
    ratio: float | None = None
    baseline_median_ms: float | None = None
    peak_memory: int | None = None

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


def _quartiles(samples: list[float]) -> tuple[float, float, float]:
    q1, med, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return q1, med, q3


def _block_timer(call: Callable[[], object], cuda: torch.device | None) -> Callable[[int], float]:
    """A function that runs ``call`` ``number`` times and returns ms per call."""
    if cuda is not None:
        def block(number: int) -> float:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize(cuda)
            start.record()
            for _ in range(number):
                call()
            end.record()
            torch.cuda.synchronize(cuda)
            return start.elapsed_time(end) / number
        return block

    def cpu_block(number: int) -> float:
        t0 = time.perf_counter()
        for _ in range(number):
            call()
        return (time.perf_counter() - t0) * 1e3 / number
    return cpu_block


def _time_rounds(calls: list[Callable[[], object]], cuda: torch.device | None, *, warmup: int,
                 repeats: int, min_block_ms: float) -> tuple[list[list[float]], int]:
    """Per-call ms of each callable over ``repeats`` rounds; they alternate within a round."""
    timers = [_block_timer(c, cuda) for c in calls]
    for c in calls:
        for _ in range(warmup):
            c()
    one = max(t(1) for t in timers)
    number = max(1, int(min_block_ms / max(one, 1e-3)))
    samples: list[list[float]] = [[] for _ in calls]
    for _ in range(repeats):
        for i, t in enumerate(timers):
            samples[i].append(t(number))
    return samples, number


def time_calls(
    call: Callable[[], object],
    *,
    baseline: Callable[[], object] | None = None,
    cuda: torch.device | None = None,
    device: str = "cpu",
    batch_size: int = 1,
    threads: int = 0,
    warmup: int = 10,
    repeats: int = 21,
    min_block_ms: float = 10.0,
    max_rel_iqr: float = 0.10,
    max_retries: int = 2,
    peak_memory: int | None = None,
) -> Latency:
    """Time ``call`` (and ``baseline`` alternating with it): the method behind every latency.

    Warm-up, then ``repeats`` rounds of blocks of ``number`` calls (one block
    lasts at least ``min_block_ms``); median and IQR of ms per call. When
    IQR/median exceeds ``max_rel_iqr`` the whole measurement is repeated, at
    most ``max_retries`` times, keeping the steadiest.
    """
    if repeats < 4:
        raise ValueError(f"repeats must be >= 4 to give quartiles, got {repeats}")
    calls = [call] + ([baseline] if baseline is not None else [])
    best: Latency | None = None
    for attempt in range(max_retries + 1):
        samples, number = _time_rounds(calls, cuda, warmup=warmup, repeats=repeats,
                                       min_block_ms=min_block_ms)
        q1, med, q3 = _quartiles(samples[0])
        ratio = base_med = None
        if baseline is not None:
            ratio = statistics.median(c / b for c, b in zip(samples[0], samples[1], strict=True))
            base_med = statistics.median(samples[1])
        lat = Latency(med, q3 - q1, min(samples[0]), max(samples[0]), device, batch_size, threads,
                      repeats, number, attempt, ratio, base_med, peak_memory)
        if best is None or lat.rel_iqr < best.rel_iqr:
            best = lat
        if lat.rel_iqr <= max_rel_iqr:
            break
    assert best is not None
    return Latency(**{**best.to_dict(), "retries": attempt})


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
