"""Measurement (runners.measure): FLOPs and parameters in closed form, latency and its ratio."""

from __future__ import annotations

import math

import pytest
import torch

from runners.measure import count_flops, count_params, measure_latency
from tests.helpers import small_model


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
    # what is timed, not how fast (a loaded machine moved the same network's ratio to 0.23 in a
    # CI run): the baseline runs as often as the candidate, in the same rounds
    model, baseline = small_model("none"), small_model("none")
    calls = {"model": 0, "baseline": 0}
    model.register_forward_hook(lambda *_: calls.__setitem__("model", calls["model"] + 1))
    baseline.register_forward_hook(lambda *_: calls.__setitem__("baseline", calls["baseline"] + 1))
    lat = measure_latency(model, (1, 1, 28, 28), repeats=5, warmup=2, baseline=baseline)
    assert calls["baseline"] == calls["model"] >= lat.blocks * lat.calls_per_block
    assert lat.ratio is not None and math.isfinite(lat.ratio) and lat.ratio > 0
    assert lat.baseline_median_ms is not None and lat.baseline_median_ms > 0
    assert measure_latency(model, (1, 1, 28, 28), repeats=5, warmup=2).ratio is None
