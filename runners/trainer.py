"""The brief proxy trainer: resident data, batches sliced on the device.

SGD with Nesterov momentum, a warm-up + cosine learning-rate schedule, label
smoothing, and weight decay only on conv/linear weights (not BatchNorm or
biases). On CUDA: bf16 autocast and channels_last. Shuffling and augmentation
draw from a private generator seeded per call, so the same model, data and
seed give the same accuracy to the last digit on CPU.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from runners.data import ProxyData
from spaces import BudgetConfig

# the trainer's budget is the space file's ``budget`` block: one type, one set of defaults
# (its ``device`` is not read here: the model and data are already where they train)
TrainBudget = BudgetConfig


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


@dataclass(frozen=True)
class TrainResult:
    val_accuracy: float
    val_loss: float
    train_seconds: float
    images_per_second: float
    steps: int


def warmup_cosine(total_steps: int, warmup_fraction: float = 0.25) -> Callable[[int], float]:
    """LR factor: linear warm-up over the first quarter, then cosine decay to 0.

    Defined for any step count (torch's OneCycleLR divides by zero on very
    short runs, which tiny test budgets are).
    """
    warm = max(1, int(round(total_steps * warmup_fraction)))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total_steps - warm)))

    return factor


def _normaliser(data: ProxyData, device: torch.device) -> tuple[Tensor, Tensor]:
    std = torch.tensor(data.std, device=device).view(1, -1, 1, 1)
    mean = torch.tensor(data.mean, device=device).view(1, -1, 1, 1)
    return 1.0 / (255.0 * std), -mean / std


def _random_crop(x: Tensor, pad: int, g: torch.Generator) -> Tensor:
    """Per-sample random crop of a uint8 batch after zero padding, by gather."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=g, device=g.device).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=g, device=g.device).to(x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = dx[:, None] + torch.arange(w, device=x.device)  # (B, W)
    hwc = padded.permute(0, 2, 3, 1)
    out = hwc[torch.arange(b, device=x.device)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2)


def _random_flip(x: Tensor, g: torch.Generator) -> Tensor:
    mask = (torch.rand(x.shape[0], generator=g, device=g.device) < 0.5).to(x.device)
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.inference_mode()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, data: ProxyData,
             *, batch_size: int = 256) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of ``model`` on uint8 images ``x``.

    Batches of 256 keep a CPU's caches warm: 1.3-1.4x faster than 1024 for
    ResNet-20 at 28 px (2-core CPU), and evaluation is ~15% of a proxy trial.
    """
    device = x.device
    scale, shift = _normaliser(data, device)
    model.eval()
    correct = torch.zeros((), device=device)
    loss_sum = torch.zeros((), device=device)
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].float().mul_(scale).add_(shift)
        if device.type == "cuda":
            xb = xb.contiguous(memory_format=torch.channels_last)
        with _autocast(device):
            logits = model(xb).float()
        yb = y[i:i + batch_size]
        loss_sum += F.cross_entropy(logits, yb, reduction="sum")
        correct += (logits.argmax(1) == yb).sum()
    return correct.item() / len(x), loss_sum.item() / len(x)


def train_proxy(model: nn.Module, data: ProxyData, *, budget: TrainBudget, seed: int,
                on_epoch: Callable[[int, int, float], None] | None = None) -> TrainResult:
    """Train ``model`` on ``data``'s training split; score it on its held-out split.

    ``model`` and ``data`` must be on the same device. ``on_epoch(epoch,
    epochs, mean_train_loss)`` is called after each epoch (progress output).

    Raises:
        TrainingDiverged: the loss became NaN or infinite.
    """
    device = data.train_x.device
    fmt = torch.channels_last if budget.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    step_model = torch.compile(model) if budget.compile else model
    g = torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(seed)
    n = len(data.train_x)
    steps_per_epoch, total_steps = budget.steps_per_epoch(n), budget.steps(n)
    opt = torch.optim.SGD(_param_groups(model, budget.weight_decay), lr=budget.lr,
                          momentum=budget.momentum, nesterov=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(total_steps))
    scale, shift = _normaliser(data, device)
    model.train()
    start = time.perf_counter()
    step = 0
    epochs = math.ceil(total_steps / steps_per_epoch)
    while step < total_steps:
        perm = torch.randperm(n, generator=g, device=g.device).to(device)
        loss_sum = torch.zeros((), device=device)
        for i in range(min(steps_per_epoch, total_steps - step)):
            idx = perm[i * budget.batch_size:(i + 1) * budget.batch_size]
            xb = data.train_x[idx]
            if budget.augment:
                xb = _random_crop(xb, budget.crop_padding, g) if budget.crop_padding else xb
                xb = _random_flip(xb, g) if data.flip else xb
            xb = xb.float().mul_(scale).add_(shift).contiguous(memory_format=fmt)
            with _autocast(device):
                loss = F.cross_entropy(step_model(xb).float(), data.train_y[idx],
                                       label_smoothing=budget.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.detach()
            step += 1
        # one host sync per epoch: a NaN anywhere in the epoch propagates into the sum
        epoch_loss = loss_sum.item()
        if not math.isfinite(epoch_loss):
            raise TrainingDiverged(f"training loss became {epoch_loss} by step {step}")
        if on_epoch is not None:
            on_epoch(math.ceil(step / steps_per_epoch), epochs,
                     epoch_loss / max(1, min(steps_per_epoch, step)))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    acc, val_loss = evaluate(model, data.val_x, data.val_y, data)
    return TrainResult(acc, val_loss, seconds, step * budget.batch_size / seconds, step)


def seconds_per_step(model: nn.Module, *, batch_size: int, in_channels: int, input_size: int,
                     num_classes: int, device: torch.device, steps: int = 3) -> float:
    """Wall seconds of one training step of ``model``, timed on random data after one warm-up.

    For estimates (``--dry-run``); the model's weights are changed.
    """
    model.to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(batch_size, in_channels, input_size, input_size, device=device)
    y = torch.randint(0, num_classes, (batch_size,), device=device)

    def step() -> None:
        with _autocast(device):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps
