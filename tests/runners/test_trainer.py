from __future__ import annotations

import pytest
import torch

from runners.data import load_proxy_data
from runners.trainer import TrainBudget, TrainingDiverged, _random_crop, train_proxy
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
    out = _random_crop(x, 2, torch.Generator().manual_seed(0))
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
