"""How every latency is timed, without importing torch (a target device may have only
ONNX Runtime): warm-up, then ``repeats`` rounds of blocks of ``number`` calls each
(``number`` calibrated so one block takes at least ``min_block_ms``), alternating
with a baseline when there is one; the result is the median and inter-quartile range
of the per-call times of the blocks. When IQR/median exceeds ``max_rel_iqr`` the whole
measurement is repeated, at most ``max_retries`` times, keeping the steadiest, and the
retries are recorded. On CUDA, calls are timed with CUDA events after synchronisation.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


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


def _quartiles(samples: list[float]) -> tuple[float, float, float]:
    q1, med, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return q1, med, q3


def _block_timer(call: Callable[[], object], cuda: Any) -> Callable[[int], float]:
    """A function that runs ``call`` ``number`` times and returns ms per call."""
    if cuda is not None:
        import torch  # only for CUDA; the rest of this module runs without torch

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


def _time_rounds(calls: list[Callable[[], object]], cuda: Any, *, warmup: int,
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
    cuda: Any = None,
    device: str = "cpu",
    batch_size: int = 1,
    threads: int = 0,
    warmup: int = 10,
    repeats: int,
    min_block_ms: float = 10.0,
    max_rel_iqr: float = 0.10,
    max_retries: int = 2,
    peak_memory: int | None = None,
) -> Latency:
    """Time ``call`` (and ``baseline`` alternating with it): the method behind every latency.

    Warm-up, then ``repeats`` rounds (no default here: the space's ``latency.repeats`` or a
    profile plan's recorded count says how many) of blocks of ``number`` calls (one block
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
