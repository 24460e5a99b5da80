"""The training step (forward, loss, backward, optimiser step) and its CUDA graph: on CUDA
the step is captured once and replayed (``CapturedStep``), since small CNNs on a large GPU are
bound by kernel launches and a replay launches the whole step at once. Used by
``runners.trainer.train_proxy``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def autocast(device: torch.device, *, cache: bool = True) -> contextlib.AbstractContextManager:
    # a step captured in a CUDA graph must not use autocast's weight-cast cache
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=cache)
    return contextlib.nullcontext()


class Step:
    """One optimisation step on a batch: forward, loss, backward, optimiser step.

    Returns the detached loss. Gradients are set to None first, so a CUDA graph
    capture allocates them from its own pool (PyTorch's whole-network capture recipe).
    """

    def __init__(self, model: nn.Module, opt: torch.optim.Optimizer, *, label_smoothing: float,
                 device: torch.device) -> None:
        self.model, self.opt, self.label_smoothing, self.device = model, opt, label_smoothing, device

    def __call__(self, xb: Tensor, yb: Tensor) -> Tensor:
        self.opt.zero_grad(set_to_none=True)
        with autocast(self.device, cache=False):
            loss = F.cross_entropy(self.model(xb).float(), yb, label_smoothing=self.label_smoothing)
        loss.backward()
        self.opt.step()
        return loss.detach()


def capture_cuda_graph(step: Step, x: Tensor, y: Tensor) -> tuple[Callable[[], None], Tensor]:
    """Capture one call of ``step`` on the static batch ``(x, y)``; return (replay, loss)."""
    graph = torch.cuda.CUDAGraph()
    step.opt.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        loss = step(x, y)
    return graph.replay, loss


@contextlib.contextmanager
def side_stream(device: torch.device):
    """Run eager warm-up steps on a side stream, as CUDA graph capture requires; no-op off CUDA."""
    if device.type != "cuda":
        yield
        return
    main = torch.cuda.current_stream(device)
    side = torch.cuda.Stream(device)
    side.wait_stream(main)
    with torch.cuda.stream(side):
        yield
    main.wait_stream(side)


class CapturedStep:
    """A training step that runs eagerly ``warmup`` times, then is captured once and replayed.

    The warm-up steps are real steps of the training, so the trajectory is the
    eager one (up to the float order of the fused optimiser). Each later call
    copies its batch into the captured input tensors and replays the graph: one
    launch instead of hundreds. If capture fails (an operation that syncs with
    the host or changes shape), ``fallback`` keeps the reason and this and every
    later step run eagerly, from where the training was: nothing is lost.

    ``capture`` is the capturing function (injectable, so the fallback can be
    tested where there is no GPU).
    """

    def __init__(self, step: Step, *, warmup: int = 3,
                 capture: Callable[[Step, Tensor, Tensor], tuple[Callable[[], None], Tensor]]
                 | None = None) -> None:
        self.step, self.warmup = step, warmup
        self.capture = capture or capture_cuda_graph
        self.calls = 0
        self.fallback: str | None = None
        self._replay: Callable[[], None] | None = None

    @property
    def path(self) -> str:
        return "cuda_graph" if self._replay is not None else "eager"

    def __call__(self, xb: Tensor, yb: Tensor) -> Tensor:
        self.calls += 1
        if self._replay is not None:
            self._x.copy_(xb)
            self._y.copy_(yb)
            self._replay()
            return self._loss
        if self.fallback is not None:
            return self.step(xb, yb)
        if self.calls <= self.warmup:
            with side_stream(xb.device):
                return self.step(xb, yb)
        self._x, self._y = xb.clone(), yb.clone()
        try:
            self._replay, self._loss = self.capture(self.step, self._x, self._y)
        except Exception as e:  # noqa: BLE001 -- any capture failure falls back, with its reason kept
            self._replay = None
            first = (str(e).strip().splitlines() or [""])[0]
            self.fallback = f"{type(e).__name__}: {first}"[:300]
            self.step.opt.zero_grad(set_to_none=True)
            return self.step(xb, yb)
        self._replay()  # capture records the step without running it
        return self._loss
