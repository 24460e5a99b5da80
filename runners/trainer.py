"""The brief proxy trainer: resident data, batches sliced on the device.

SGD with Nesterov momentum, a warm-up + cosine learning-rate schedule, label
smoothing, and weight decay only on conv/linear weights (not BatchNorm or
biases). On CUDA: bf16 autocast and channels_last, and the training step
(forward, backward, optimiser) captured once in a CUDA graph and replayed
(``runners.step.CapturedStep``): small CNNs on a large GPU are bound by kernel launches, and a
replay launches the whole step at once. Shuffling and augmentation draw from a
private generator seeded per call, so the same model, data and seed give the
same accuracy to the last digit on CPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn

from models import Architecture, build_model
from models.attention import IdentityStart
from models.pretrained import PRETRAINED_ATTR, freeze_pretrained
from runners.augment import random_crop, random_erase, random_flip
from runners.checkpoint import load_checkpoint, save_checkpoint, training_identity
from runners.data import ProxyData
from runners.step import CapturedStep, Step, autocast
from spaces import BudgetConfig, budget_record

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
    # how the training step ran: "eager", "cuda_graph" (captured and replayed) or "compiled"
    step_path: str = "eager"
    # why a CUDA graph was asked for and not used (None when it was used or not asked for)
    graph_fallback: str | None = None
    # the batches' memory format: "channels_last" or "contiguous" (see ``memory_format``)
    memory_format: str = "contiguous"
    # the mean training loss of each epoch (a resumed training's earlier ones included)
    epoch_losses: tuple[float, ...] = ()


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


def param_groups(model: nn.Module, budget: TrainBudget, device: torch.device,
                  graphed: bool) -> list[dict]:
    """Weight decay on kernels, not on biases and norms; a model started from trained weights
    (``models.pretrained``) trains those at ``budget.finetune.pretrained_lr``, the identity scales
    of its inserted modules at ``budget.finetune.scale_lr`` when that is set, and the rest at
    ``budget.lr``. Each group's ``lr_scale`` is its rate over ``budget.lr``; a captured step reads
    each group's rate from a tensor of its own."""
    pretrained = getattr(model, PRETRAINED_ATTR, frozenset())
    rates = {"new": 1.0, "pretrained": budget.finetune.pretrained_lr / budget.lr}
    identity_scales = set()  # unset scale_lr: the scales train with what is new
    if budget.finetune.scale_lr is not None:
        rates["scale"] = budget.finetune.scale_lr / budget.lr
        identity_scales = {id(m.scale) for m in model.modules() if isinstance(m, IdentityStart)}

    def kind(name: str, p: nn.Parameter) -> str:
        return "scale" if id(p) in identity_scales else "pretrained" if name in pretrained else "new"

    groups = []
    for which in rates:
        for decay in (True, False):
            params = [p for n, p in model.named_parameters()
                      if p.requires_grad and (p.ndim > 1) == decay and kind(n, p) == which]
            if params:
                lr = budget.lr * rates[which]
                groups.append({"params": params, "weight_decay": budget.weight_decay if decay else 0.0,
                               "lr_scale": rates[which],
                               "lr": torch.tensor(lr, device=device) if graphed else lr})
    return groups


def _set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    """Set each group's learning rate to ``lr`` times its ``lr_scale``; a tensor rate (a captured
    step reads it) is filled in place."""
    for group in opt.param_groups:
        rate = lr * group.get("lr_scale", 1.0)
        if isinstance(group["lr"], Tensor):
            group["lr"].fill_(rate)
        else:
            group["lr"] = rate


@torch.inference_mode()
def log_probs(model: nn.Module, x: Tensor, data: ProxyData, *, batch_size: int = 256,
              tta_flip: bool = False) -> Tensor:
    """Log-probabilities (N, classes, float32, on ``x``'s device) of ``model`` on uint8 images
    ``x``; with ``tta_flip``, the log of the mean of the softmax over each image and its
    horizontal mirror.

    Batches of 256 keep a CPU's caches warm: 1.3-1.4x faster than 1024 for
    ResNet-20 at 28 px (2-core CPU), and evaluation is ~15% of a proxy trial.
    """
    device = x.device
    scale, shift = _normaliser(data, device)
    model.eval()
    out = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].float().mul_(scale).add_(shift)
        if device.type == "cuda":
            xb = xb.contiguous(memory_format=torch.channels_last)
        with autocast(device):
            lp = model(xb).float().log_softmax(1)
            if tta_flip:
                mirrored = model(xb.flip(-1)).float().log_softmax(1)
                lp = torch.logsumexp(torch.stack([lp, mirrored]), dim=0) - math.log(2)
        out.append(lp)
    return torch.cat(out)


def score(lp: Tensor, y: Tensor) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of log-probabilities ``lp`` against labels ``y``."""
    return (lp.argmax(1) == y).sum().item() / len(y), F.nll_loss(lp, y).item()


def evaluate(model: nn.Module, x: Tensor, y: Tensor, data: ProxyData,
             *, batch_size: int = 256, tta_flip: bool = False) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of ``model`` on uint8 images ``x`` (``log_probs``)."""
    return score(log_probs(model, x, data, batch_size=batch_size, tta_flip=tta_flip), y)


def weight_average(model: nn.Module, decay: float) -> AveragedModel:
    """The exponential moving average of ``model``'s weights and of its BatchNorm statistics
    (``update_parameters(model)`` after each step): ``budget.ema_decay``'s average."""
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, data: ProxyData, *, images: int = 2048,
                        batch_size: int = 256) -> None:
    """Re-estimate ``model``'s BatchNorm statistics from its own activations on the first
    ``images`` training images, unaugmented (SWA's ``update_bn``): averaged weights need the
    statistics of the averaged network, not the average of the trained one's."""
    scale, shift = _normaliser(data, data.train_x.device)
    x = data.train_x[:images]
    update_bn((x[i:i + batch_size].float().mul_(scale).add_(shift) for i in range(0, len(x), batch_size)),
              model)


def memory_format(device: torch.device, budget: TrainBudget, train_images: int) -> torch.memory_format:
    """The memory format a training uses: ``budget.channels_last``'s, except on a CPU with more
    than one thread and an odd batch size, where it is the contiguous one. There oneDNN's
    channels_last convolution backward (torch 2.14.1) corrupts the heap: every odd batch size
    from 17 to 255 at 2 threads died of SIGSEGV or SIGABRT ("double free or corruption") on a
    2-core AVX-512 EPYC, every even one and every contiguous batch trained (issue 29's crash;
    ``tests/runners/test_isolated.py``). The result's ``memory_format`` says which was used."""
    if not budget.channels_last:
        return torch.contiguous_format
    if device.type == "cpu" and min(budget.batch_size, train_images) % 2 == 1 and torch.get_num_threads() > 1:
        return torch.contiguous_format
    return torch.channels_last


def _graph_wanted(device: torch.device, budget: TrainBudget) -> bool:
    """Capture the step in a CUDA graph: on CUDA, when the budget asks, and not with compile."""
    return device.type == "cuda" and budget.cuda_graph and not budget.compile


def train_proxy(model: nn.Module, data: ProxyData, *, budget: TrainBudget, seed: int,
                on_epoch: Callable[[int, int, float], None] | None = None,
                on_step: Callable[[nn.Module], None] | None = None,
                checkpoint: Path | None = None) -> TrainResult:
    """Train ``model`` on ``data``'s training split; score it on its held-out split.

    ``model`` and ``data`` must be on the same device. ``on_epoch(epoch,
    epochs, mean_train_loss)`` is called after each epoch (progress output), ``on_step(model)``
    after each optimiser step (``bench/proxy_recipes.py`` keeps its own weight averages with it).

    ``budget.ema_decay`` > 0 scores the moving average of the weights (and of the BatchNorm
    statistics) instead of the last weights, and leaves ``model`` holding it; ``budget.tta_flip``
    scores each image with its mirror.

    ``budget.finetune.freeze`` > 0 (a model started from trained weights) turns training off for
    the loaded parameters of the stem and first stages of ``model`` and holds their BatchNorm
    layers in eval mode (``models.pretrained.freeze_pretrained``).

    ``checkpoint``: a file written after every epoch (``runners.checkpoint``); where it exists,
    the training continues from it and reaches what an uninterrupted one does. The caller
    deletes it when it no longer needs it.

    Raises:
        TrainingDiverged: the loss became NaN or infinite.
        ValueError: ``tta_flip`` on a dataset that does not allow flips.
        CheckpointMismatch: ``checkpoint`` is of another training.
    """
    if budget.tta_flip and not data.flip:
        raise ValueError("budget.tta_flip: this dataset does not allow horizontal flips "
                         "(dataset.flip is false); set tta_flip: false or dataset.flip: true")
    device = data.train_x.device
    fmt = memory_format(device, budget, len(data.train_x))
    model = model.to(memory_format=fmt)
    graphed = _graph_wanted(device, budget)
    step_model = torch.compile(model) if budget.compile else model
    g = torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(seed)
    n = len(data.train_x)
    steps_per_epoch, total_steps = budget.steps_per_epoch(n), budget.steps(n)
    # a captured step reads the learning rate from a tensor, and the fused SGD kernel takes it
    # without a host sync (the foreach one would turn it into a Python number)
    # budget.finetune.freeze: the stem and first stages of trained weights stay as loaded
    held = freeze_pretrained(model, budget.finetune.freeze)
    opt = torch.optim.SGD(param_groups(model, budget, device, graphed), lr=budget.lr,
                          momentum=budget.momentum, nesterov=True, **({"fused": True} if graphed else {}))
    schedule = warmup_cosine(total_steps)
    average = weight_average(model, budget.ema_decay) if budget.ema_decay > 0 else None
    one_step = Step(step_model, opt, label_smoothing=budget.label_smoothing, device=device)
    captured = CapturedStep(one_step) if graphed else None
    train_step = captured or one_step
    scale, shift = _normaliser(data, device)
    identity = training_identity(model, budget_record(budget),
                                 seed=seed, train_images=n)
    step, losses, before = 0, [], 0.0
    if checkpoint is not None and (state := load_checkpoint(checkpoint, identity, device=device)):
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if average is not None:
            average.load_state_dict(state["average"])
        g.set_state(state["generator"].cpu())
        step, losses, before = state["step"], list(state["epoch_losses"]), state["seconds"]
    model.train()
    for bn in held:  # frozen stages keep their trained BatchNorm statistics
        bn.eval()
    start = time.perf_counter() - before
    epochs = math.ceil(total_steps / steps_per_epoch)
    while step < total_steps:
        perm = torch.randperm(n, generator=g, device=g.device).to(device)
        loss_sum = torch.zeros((), device=device)
        for i in range(min(steps_per_epoch, total_steps - step)):
            idx = perm[i * budget.batch_size:(i + 1) * budget.batch_size]
            xb = data.train_x[idx]
            if budget.augment:
                xb = random_crop(xb, budget.crop_padding, g) if budget.crop_padding else xb
                xb = random_flip(xb, g) if data.flip else xb
            if budget.erase_prob > 0:
                xb = random_erase(xb, budget.erase_prob, g)
            # a copy with ``fmt``'s strides, exactly: a one-channel crop is "contiguous" by
            # ``is_contiguous`` with channels_last strides, and convolutions follow the strides
            xb = torch.empty_like(xb, dtype=torch.float32, memory_format=fmt).copy_(xb).mul_(scale).add_(shift)
            _set_lr(opt, budget.lr * schedule(step))
            loss_sum += train_step(xb, data.train_y[idx])
            if average is not None:
                average.update_parameters(model)
            if on_step is not None:
                on_step(model)
            step += 1
        # one host sync per epoch: a NaN anywhere in the epoch propagates into the sum
        epoch_loss = loss_sum.item()
        if not math.isfinite(epoch_loss):
            raise TrainingDiverged(f"training loss became {epoch_loss} by step {step}")
        losses.append(epoch_loss / max(1, min(steps_per_epoch, step)))
        if checkpoint is not None:
            save_checkpoint(checkpoint, {
                "identity": identity, "step": step, "epoch_losses": losses, "model": model.state_dict(),
                "optimizer": opt.state_dict(), "generator": g.get_state(),
                "average": average.state_dict() if average is not None else None,
                "seconds": time.perf_counter() - start})
        if on_epoch is not None:
            on_epoch(math.ceil(step / steps_per_epoch), epochs, losses[-1])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    if average is not None:  # the averaged weights are the trained model's
        model.load_state_dict(average.module.state_dict())
    acc, val_loss = evaluate(model, data.val_x, data.val_y, data, tta_flip=budget.tta_flip)
    path = "compiled" if budget.compile else captured.path if captured else "eager"
    return TrainResult(acc, val_loss, seconds, step * budget.batch_size / seconds, step,
                       step_path=path, graph_fallback=captured.fallback if captured else None,
                       memory_format="channels_last" if fmt == torch.channels_last else "contiguous",
                       epoch_losses=tuple(losses))


def train_architecture(arch: Architecture, data: ProxyData, *, budget: BudgetConfig, seed: int,
                       device: torch.device, registers: tuple[type, ...] = ()) -> dict:
    """``arch`` built with shared initialisation from ``seed`` and trained by ``train_proxy``: the
    one proxy training of a search trial or a confirmation, as a picklable call
    (``runners.isolated`` runs it in a child process). ``registers``: the classes of the
    architecture's modules, unused here; unpickling them in a child imports their modules,
    which registers them there.

    Returns ``accuracy``, ``val_loss``, ``train_seconds``, ``images_per_second``, ``step_path``
    and ``graph_fallback``.
    """
    r = train_proxy(build_model(arch, seed=seed).to(device), data, budget=budget, seed=seed)
    return {"accuracy": r.val_accuracy, "val_loss": r.val_loss, "train_seconds": r.train_seconds,
            "images_per_second": r.images_per_second, "step_path": r.step_path,
            "graph_fallback": r.graph_fallback}


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
        with autocast(device):
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
