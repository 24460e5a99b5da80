from __future__ import annotations

import pytest
import torch

from runners import step as step_module
from runners import trainer
from runners.data import load_proxy_data
from runners.augment import random_crop
from runners.step import CapturedStep
from runners.trainer import TrainBudget, TrainingDiverged, train_proxy
from tests.helpers import small_model


def test_training_is_reproducible_and_learns(fashion_dir) -> None:
    data = load_proxy_data(name="fashion-mnist", train_subset=600, val_fraction=0.25, seed=0, download=False)
    budget = TrainBudget(epochs=3, batch_size=50, lr=0.05)
    a = train_proxy(small_model(), data, budget=budget, seed=0)
    b = train_proxy(small_model(), data, budget=budget, seed=0)
    assert a.val_accuracy == b.val_accuracy and a.val_loss == b.val_loss
    assert a.val_accuracy > 0.5  # chance is 0.1; the synthetic textures are easy
    assert a.steps == 3 * (450 // 50) and a.images_per_second > 0


def test_nan_loss_is_a_named_failure(fashion_dir) -> None:
    data = load_proxy_data(name="fashion-mnist", train_subset=200, val_fraction=0.25, seed=0, download=False)
    model = small_model("none")
    with torch.no_grad():
        model.fc.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="training loss became nan"):
        train_proxy(model, data, budget=TrainBudget(epochs=1, batch_size=50), seed=0)


def test_random_crop_moves_content_within_padding() -> None:
    x = torch.zeros(64, 1, 8, 8, dtype=torch.uint8)
    x[:, :, 4, 4] = 255
    out = random_crop(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    pos = [tuple(torch.nonzero(o[0]).flatten().tolist()) for o in out]
    assert all(2 <= r <= 6 and 2 <= c <= 6 for r, c in pos)
    assert len(set(pos)) > 5


@pytest.mark.slow
def test_compiled_training_matches_the_contract(fashion_dir) -> None:
    data = load_proxy_data(name="fashion-mnist", train_subset=200, val_fraction=0.25, seed=0, download=False)
    eager = train_proxy(small_model(), data, budget=TrainBudget(epochs=1, batch_size=50), seed=0)
    r = train_proxy(small_model(), data, budget=TrainBudget(epochs=1, batch_size=50, compile=True), seed=0)
    # the same training (compiled kernels differ in the last bits, so the accuracy may by an image)
    assert r.steps == eager.steps == 3 and abs(r.val_accuracy - eager.val_accuracy) <= 0.04


def _fake_capture(step, x, y):
    """What a CUDA graph does, on the CPU: the step on the static tensors, run at each replay
    (and not at capture)."""
    loss = torch.zeros(())

    def replay() -> None:
        loss.copy_(step(x, y))

    return replay, loss


def _failing_capture(step, x, y):
    raise RuntimeError("operation not permitted when stream is capturing\nmore detail")


def test_graph_path_replays_into_static_tensors_and_falls_back_on_failure(fashion_dir, monkeypatch) -> None:
    """The captured-step code path, exercised on the CPU: with a capture that works, every step
    after the warm-up goes through the static input tensors and gives the training the eager
    steps give; with a capture that fails, training goes on eagerly from where it was, to the
    same result, and says why."""
    data = load_proxy_data(name="fashion-mnist", train_subset=600, val_fraction=0.25, seed=0, download=False)
    budget = TrainBudget(epochs=3, batch_size=50, lr=0.05)
    monkeypatch.setattr(trainer, "_graph_wanted", lambda device, b: b.cuda_graph)
    monkeypatch.setattr(step_module, "capture_cuda_graph", _fake_capture)
    replayed = train_proxy(small_model(), data, budget=budget, seed=0)
    monkeypatch.setattr(step_module, "capture_cuda_graph", _failing_capture)
    fallen = train_proxy(small_model(), data, budget=budget, seed=0)
    eager = train_proxy(small_model(), data, budget=budget.model_copy(update={"cuda_graph": False}), seed=0)

    assert replayed.step_path == "cuda_graph" and replayed.graph_fallback is None
    assert fallen.step_path == "eager"
    assert fallen.graph_fallback == "RuntimeError: operation not permitted when stream is capturing"
    assert eager.step_path == "eager" and eager.graph_fallback is None
    assert replayed.steps == fallen.steps == eager.steps == 27
    # the same fused optimiser and tensor learning rate: the same training to the last digit
    assert (replayed.val_accuracy, replayed.val_loss) == (fallen.val_accuracy, fallen.val_loss)
    assert replayed.val_accuracy > 0.5
    # against the eager optimiser only the float order differs
    assert abs(replayed.val_loss - eager.val_loss) < 1e-3


def test_captured_step_copies_each_batch_into_the_captured_tensors() -> None:
    seen = []

    class Step:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)

        def __call__(self, x, y):
            seen.append(x)
            return x.sum()

    calls = []

    def capture(step, x, y):
        calls.append((x, y))
        out = torch.zeros(())
        return (lambda: out.copy_(step(x, y))), out

    captured = CapturedStep(Step(), warmup=2, capture=capture)
    batches = [torch.full((2, 3), float(i)) for i in range(5)]
    losses = [captured(b, torch.zeros(2)).item() for b in batches]
    assert losses == [6.0 * i for i in range(5)] and captured.path == "cuda_graph"
    assert len(calls) == 1  # captured once, on the third call
    static = calls[0][0]
    assert all(x is static for x in seen[2:]) and seen[0] is batches[0]


def test_tta_scores_each_image_with_its_mirror_and_is_off_by_default(fashion_dir) -> None:
    data = load_proxy_data(name="fashion-mnist", train_subset=400, val_fraction=0.25, seed=0, download=False)
    model = small_model().eval()
    seen = []
    model.register_forward_hook(lambda m, inp, out: seen.append(inp[0].detach().clone()))
    x, y = data.val_x[:8], data.val_y[:8]
    plain = trainer.evaluate(model, x, y, data)
    assert len(seen) == 1
    both = trainer.evaluate(model, x, y, data, tta_flip=True)
    assert len(seen) == 3 and torch.equal(seen[2], seen[1].flip(-1))  # the image, then its mirror
    with torch.no_grad():
        scale, shift = trainer._normaliser(data, x.device)
        xb = x.float().mul_(scale).add_(shift)
        probs = (model(xb).softmax(1) + model(xb.flip(-1)).softmax(1)) / 2
    assert both[1] == pytest.approx(torch.nn.functional.nll_loss(probs.log(), y).item(), rel=1e-5)
    assert both != plain


def test_tta_on_a_dataset_without_flips_is_refused(fashion_dir) -> None:
    from dataclasses import replace

    from spaces import BudgetConfig

    data = load_proxy_data(name="fashion-mnist", train_subset=200, val_fraction=0.25, seed=0, download=False)
    with pytest.raises(ValueError, match="budget.tta_flip: this dataset does not allow horizontal flips"):
        train_proxy(small_model(), replace(data, flip=False), budget=BudgetConfig(epochs=1, tta_flip=True), seed=0)


def test_on_step_sees_every_step_and_changes_nothing(fashion_dir) -> None:
    data = load_proxy_data(name="fashion-mnist", train_subset=400, val_fraction=0.25, seed=0, download=False)
    budget = TrainBudget(epochs=2, batch_size=50, lr=0.05)
    seen = []
    watched = train_proxy(small_model(), data, budget=budget, seed=0, on_step=seen.append)
    plain = train_proxy(small_model(), data, budget=budget, seed=0)
    assert len(seen) == watched.steps == 2 * (300 // 50) and len({id(m) for m in seen}) == 1
    assert (watched.val_accuracy, watched.val_loss) == (plain.val_accuracy, plain.val_loss)


def test_score_counts_exactly() -> None:
    lp = torch.log_softmax(torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]]), 1)
    acc, loss = trainer.score(lp, torch.tensor([0, 0, 0]))
    assert acc == 2 / 3 and loss == pytest.approx(-lp[:, 0].mean().item())


def test_recompute_batchnorm_takes_the_models_own_statistics(fashion_dir) -> None:
    data = load_proxy_data(name="fashion-mnist", train_subset=400, val_fraction=0.25, seed=0, download=False)
    model = small_model()
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k}
    inputs = []
    hook = bn.register_forward_hook(lambda m, inp, out: inputs.append(inp[0].detach()))
    trainer.recompute_batchnorm(model, data, images=128, batch_size=64)
    hook.remove()
    assert len(inputs) == 2 and model.training  # two batches; the mode it had
    seen = torch.cat(inputs)
    assert torch.allclose(bn.running_mean, seen.mean((0, 2, 3)), atol=1e-5)
    # the cumulative average of each batch's (unbiased) variance, as update_bn keeps it
    assert torch.allclose(bn.running_var, torch.stack([b.var((0, 2, 3)) for b in inputs]).mean(0), atol=1e-5)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())  # weights untouched


@pytest.mark.parametrize("batch_size,threads,expected", [(24, 2, "channels_last"), (23, 2, "contiguous"),
                                                          (23, 1, "channels_last")])
def test_odd_batches_on_several_cpu_threads_train_with_exactly_contiguous_strides(
        fashion_dir, batch_size: int, threads: int, expected: str) -> None:
    # oneDNN's channels_last convolution backward corrupts the heap at odd batch sizes on 2+
    # threads; a one-channel random crop has channels_last strides and passes is_contiguous()
    data = load_proxy_data(name="fashion-mnist", train_subset=200, val_fraction=0.25, seed=0, download=False)
    model = small_model("none")
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].stride()) if m.training else None)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        r = train_proxy(model, data, budget=TrainBudget(epochs=1, batch_size=batch_size), seed=0)
    finally:
        torch.set_num_threads(before)
    assert r.memory_format == expected
    want = torch.empty(batch_size, 1, 28, 28, memory_format=getattr(torch, expected.replace(
        "contiguous", "contiguous_format"))).stride()
    assert seen and all(s == want for s in seen)


class _Interrupt(Exception):
    pass


def test_an_interrupted_training_continues_from_its_last_epoch_to_the_same_result(fashion_dir, tmp_path) -> None:
    data = load_proxy_data(name="fashion-mnist", train_subset=600, val_fraction=0.25, seed=0, download=False)
    budget = TrainBudget(epochs=3, batch_size=50, lr=0.05, ema_decay=0.8, erase_prob=0.3)
    whole_model = small_model()
    whole = train_proxy(whole_model, data, budget=budget, seed=2)
    ckpt = tmp_path / "ckpt.pt"

    def stop_after_first(epoch, epochs, loss):
        if epoch == 1:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train_proxy(small_model(), data, budget=budget, seed=2, on_epoch=stop_after_first, checkpoint=ckpt)
    assert ckpt.exists() and torch.load(ckpt, weights_only=True)["step"] == 9  # 450 images / 50
    epochs_run = []
    resumed_model = small_model()
    resumed = train_proxy(resumed_model, data, budget=budget, seed=2, checkpoint=ckpt,
                          on_epoch=lambda e, n, loss: epochs_run.append(e))
    assert epochs_run == [2, 3]  # only what was left
    assert (resumed.val_accuracy, resumed.val_loss) == (whole.val_accuracy, whole.val_loss)
    assert resumed.epoch_losses == whole.epoch_losses and len(whole.epoch_losses) == 3
    for k, v in whole_model.state_dict().items():
        assert torch.equal(v, resumed_model.state_dict()[k]), k
    # a checkpoint of another training is refused, naming what differs
    with pytest.raises(ValueError, match=r"another training .*settings\.lr \(0\.05 there, 0\.1 here\)"):
        train_proxy(small_model(), data, budget=budget.model_copy(update={"lr": 0.1}), seed=2, checkpoint=ckpt)


def test_weight_averaging_is_what_the_model_holds_scores_and_saves(fashion_dir) -> None:
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    data = load_proxy_data(name="fashion-mnist", train_subset=400, val_fraction=0.25, seed=0, download=False)
    budget = TrainBudget(epochs=2, batch_size=50, lr=0.05)
    shadow: list[AveragedModel] = []
    last: dict = {}

    def follow(model):  # an independent average of the same trajectory, and the last weights
        if not shadow:
            shadow.append(AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.7), use_buffers=True))
        shadow[0].update_parameters(model)
        last.update({k: v.clone() for k, v in model.state_dict().items()})

    model = small_model()
    averaged = train_proxy(model, data, budget=budget.model_copy(update={"ema_decay": 0.7}), seed=0,
                           on_step=follow)
    held = model.state_dict()
    for k, v in shadow[0].module.state_dict().items():
        assert torch.allclose(v.float(), held[k].float(), atol=1e-6), k  # the model is the average
    assert any(not torch.equal(held[k], last[k]) for k in last if k.endswith("weight"))
    assert any(not torch.equal(held[k], last[k]) for k in last if k.endswith("running_mean"))  # BN too
    assert trainer.evaluate(model, data.val_x, data.val_y, data) == (averaged.val_accuracy, averaged.val_loss)
    plain = train_proxy(small_model(), data, budget=budget, seed=0)
    assert averaged.val_loss != plain.val_loss  # the same run, scored on other weights
