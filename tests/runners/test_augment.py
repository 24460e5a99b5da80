"""Batch augmentation: random erasing changes what it claims and nothing else."""

from __future__ import annotations

import pytest
import torch

from runners import trainer
from runners.augment import ERASE_AREA, random_erase
from runners.data import load_proxy_data
from runners.trainer import TrainBudget, train_proxy
from tests.helpers import small_model


def _boxes(x: torch.Tensor, out: torch.Tensor) -> list[tuple[int, int, int]]:
    """Per changed image: (changed pixels, bounding-box area, box height * width of the mask)."""
    found = []
    for before, after in zip(x, out, strict=True):
        changed = (before != after).any(0)
        if changed.any():
            rows, cols = changed.nonzero(as_tuple=True)
            box = (int(rows.max() - rows.min()) + 1) * (int(cols.max() - cols.min()) + 1)
            found.append((int(changed.sum()), box))
    return found


def test_random_erasing_puts_one_box_of_the_stated_area_in_about_prob_of_the_images() -> None:
    h = w = 16
    x = torch.full((600, 3, h, w), 77, dtype=torch.uint8)
    out = random_erase(x, 0.5, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    boxes = _boxes(x, out)
    assert 0.42 < len(boxes) / len(x) < 0.58  # ~ prob of the images
    lo, hi = ERASE_AREA
    for changed, box in boxes:
        assert box <= hi * h * w  # never more than the largest stated area
        assert changed >= 0.9 * box  # one filled box (a random value may equal the old one)
    fractions = torch.tensor([box / (h * w) for _, box in boxes])
    assert fractions.min() < 2 * lo + 0.05 and fractions.max() > 0.7 * hi  # the range is used
    assert 0.1 < float(fractions.mean()) < (lo + hi) / 2 + 0.01  # uniform area, rounded down


def test_random_erasing_is_off_at_zero_and_everywhere_at_one() -> None:
    x = torch.randint(0, 256, (64, 1, 12, 12), dtype=torch.uint8)
    assert torch.equal(random_erase(x, 0.0, torch.Generator().manual_seed(1)), x)
    assert len(_boxes(x, random_erase(x, 1.0, torch.Generator().manual_seed(1)))) >= 62


def test_the_trainer_erases_only_when_the_budget_says_so(fashion_dir, monkeypatch) -> None:
    data = load_proxy_data(name="fashion-mnist", train_subset=200, val_fraction=0.25, seed=0, download=False)
    calls = []
    real = trainer.random_erase
    monkeypatch.setattr(trainer, "random_erase", lambda x, p, g: calls.append(p) or real(x, p, g))
    budget = TrainBudget(epochs=1, batch_size=50)
    plain = train_proxy(small_model(), data, budget=budget, seed=0)
    assert calls == []
    erased = train_proxy(small_model(), data, budget=budget.model_copy(update={"erase_prob": 0.5}), seed=0)
    assert calls and set(calls) == {0.5}
    assert erased.val_loss != pytest.approx(plain.val_loss, abs=1e-9)  # it changed the training
