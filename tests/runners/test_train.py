"""Full training of an exported architecture (runners.train)."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from models import build_model, load_architecture
from runners.data import load_full_data
from runners.train import load_trained, train_full
from runners.trainer import evaluate
from spaces import FORMAT_VERSION
from tests.helpers import small_arch


def test_full_training_writes_weights_that_load_back(tmp_path: Path, fashion_dir: Path) -> None:
    arch = tmp_path / "best.yaml"  # an architecture file as search.export writes it
    arch.write_text(yaml.safe_dump({"format_version": FORMAT_VERSION, "architecture": small_arch("se").to_dict()}))
    report = train_full(arch, epochs=1, out=tmp_path / "trained", quiet=True)
    assert report["test_images"] == 100 and len(report["epoch_train_loss"]) == 1
    model = load_trained(tmp_path / "trained/model.pt").eval()
    # the saved weights are the trained ones: they score exactly the reported test accuracy,
    # and they differ from the initial weights of the same seed
    data = load_full_data(name="fashion-mnist")
    assert evaluate(model, data.val_x, data.val_y, data)[0] == report["test_accuracy"]
    initial = build_model(load_architecture(arch), seed=0).state_dict()
    changed = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(v, initial[k])]
    assert len(changed) > len(initial) // 2
    # a learnable signal (class = stripe texture): one epoch (4 steps) is well above chance (0.1)
    assert report["test_accuracy"] >= 0.2
    assert yaml.safe_load((tmp_path / "trained/train.yaml").read_text())["weights"] == "model.pt"
