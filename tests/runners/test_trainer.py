from __future__ import annotations

import pytest
import torch

from models import Architecture, StageChoice, build_model
from runners.data import load_proxy_data
from runners.measure import count_flops, count_params, measure_latency
from runners.trainer import TrainBudget, TrainingDiverged, _random_crop, train_proxy


def small_model(attention: str = "se") -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(Architecture.create(
        backbone="resnet_cifar", backbone_args={"depth": 8, "width": 8},
        stages=[StageChoice.create(attention)] * 3, in_channels=1, input_size=28, num_classes=10))


def test_training_is_reproducible_and_learns(fashion_dir) -> None:
    data = load_proxy_data(train_subset=600, val_fraction=0.25, seed=0, download=False)
    budget = TrainBudget(epochs=3, batch_size=50, lr=0.05)
    a = train_proxy(small_model(), data, budget=budget, seed=0)
    b = train_proxy(small_model(), data, budget=budget, seed=0)
    assert a.val_accuracy == b.val_accuracy and a.val_loss == b.val_loss
    assert a.val_accuracy > 0.5  # chance is 0.1; the synthetic textures are easy
    assert a.steps == 3 * (450 // 50) and a.images_per_second > 0


def test_nan_loss_is_a_named_failure(fashion_dir) -> None:
    data = load_proxy_data(train_subset=200, val_fraction=0.25, seed=0, download=False)
    model = small_model("none")
    with torch.no_grad():
        model.fc.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="training loss became nan"):
        train_proxy(model, data, budget=TrainBudget(epochs=1, batch_size=50), seed=0)


def test_random_crop_moves_content_within_padding() -> None:
    x = torch.zeros(64, 1, 8, 8, dtype=torch.uint8)
    x[:, :, 4, 4] = 255
    out = _random_crop(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    pos = [tuple(torch.nonzero(o[0]).flatten().tolist()) for o in out]
    assert all(2 <= r <= 6 and 2 <= c <= 6 for r, c in pos)
    assert len(set(pos)) > 5


def test_flops_of_a_lone_conv_equal_closed_form() -> None:
    conv = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert count_flops(conv, (1, 3, 10, 10)) == 2 * 3 * 8 * 9 * 10 * 10
    assert count_params(conv) == 3 * 8 * 9


def test_latency_is_sane_and_honours_threads() -> None:
    before = torch.get_num_threads()
    lat = measure_latency(small_model(), (1, 1, 28, 28), threads=1, repeats=5, warmup=2)
    assert lat.median_ms > 0 and lat.min_ms <= lat.median_ms <= lat.max_ms
    assert lat.threads == 1 and lat.batch_size == 1 and lat.device == "cpu"
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be >= 1"):
        measure_latency(small_model(), (1, 1, 28, 28), threads=0)


def test_flops_of_lone_se_and_eca_equal_closed_form() -> None:
    from models import create_attention

    c, h, w = 64, 8, 8
    hidden = 4  # SE r=16 on 64 channels
    pool, gate, scale = c * h * w, c, c * h * w  # one add per input, sigmoid per channel, multiply
    assert count_flops(create_attention("se", c), (1, c, h, w)) == \
        pool + 2 * c * hidden + 2 * hidden * c + gate + scale
    k = 3  # ECA's adaptive kernel at 64 channels
    assert count_flops(create_attention("eca", c), (1, c, h, w)) == pool + 2 * k * c + gate + scale


def test_flops_of_parameter_free_simam_and_of_ese_equal_closed_form() -> None:
    from models import create_attention

    c, h, w = 64, 8, 8
    n = c * h * w
    # SimAM: mean, x - mu, square, sum, x4 lambda-shifted variance (div, add, mul per channel),
    # divide, + 1/2, sigmoid, multiply
    assert count_flops(create_attention("simam", c), (1, c, h, w)) == 8 * n + 3 * c
    # eSE: mean, one C x C FC (2 FLOPs per MAC), hard-sigmoid per channel, multiply
    assert count_flops(create_attention("ese", c), (1, c, h, w)) == n + 2 * c * c + c + n


def test_latency_ratio_against_a_baseline_timed_alongside() -> None:
    model = small_model("none")
    lat = measure_latency(model, (1, 1, 28, 28), repeats=5, warmup=2, baseline=small_model("none"))
    assert lat.ratio is not None and 0.5 < lat.ratio < 2.0  # the same network on both sides
    assert lat.baseline_median_ms is not None and lat.baseline_median_ms > 0
    assert measure_latency(model, (1, 1, 28, 28), repeats=5, warmup=2).ratio is None


@pytest.mark.slow
def test_compiled_training_matches_the_contract(fashion_dir) -> None:
    data = load_proxy_data(train_subset=200, val_fraction=0.25, seed=0, download=False)
    r = train_proxy(small_model(), data, budget=TrainBudget(epochs=1, batch_size=50, compile=True), seed=0)
    assert 0.0 <= r.val_accuracy <= 1.0 and r.steps == 3
