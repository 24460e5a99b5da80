"""Full training of an exported architecture (runners.train)."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from models import build_model, load_architecture
from runners.data import load_full_data
from runners.train import classify, full_settings, load_trained, main, train_full
from runners.trainer import evaluate
from spaces import FORMAT_VERSION
from tests.helpers import small_arch


def _arch_file(tmp_path: Path, budget: dict | None = None) -> Path:
    arch = tmp_path / "best.yaml"  # an architecture file as search.export writes it
    doc = {"format_version": FORMAT_VERSION, "architecture": small_arch("se").to_dict()}
    if budget is not None:
        doc["source"] = {"budget": budget}
    arch.write_text(yaml.safe_dump(doc))
    return arch


def test_full_training_writes_weights_that_load_back(tmp_path: Path, fashion_dir: Path) -> None:
    arch = _arch_file(tmp_path)
    report = train_full(arch, epochs=1, out=tmp_path / "trained", quiet=True)
    run = report["runs"][0]
    assert report["test_images"] == 100 and len(run["epoch_train_loss"]) == 1
    model = load_trained(tmp_path / "trained" / run["weights"]).eval()
    # the saved weights are the trained ones: they score exactly the reported test accuracy,
    # and they differ from the initial weights of the same seed
    data = load_full_data(name="fashion-mnist")
    assert evaluate(model, data.val_x, data.val_y, data)[0] == report["test_accuracy"]
    initial = build_model(load_architecture(arch), seed=0).state_dict()
    changed = [k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(v, initial[k])]
    assert len(changed) > len(initial) // 2
    # a learnable signal (class = stripe texture): one epoch (4 steps) is well above chance (0.1)
    assert report["test_accuracy"] >= 0.2
    assert yaml.safe_load((tmp_path / "trained/train.yaml").read_text())["runs"][0]["weights"] == "model-seed0.pt"


def test_two_seeds_give_a_mean_an_interval_and_a_weights_file_each(tmp_path: Path, fashion_dir: Path,
                                                                   capsys) -> None:
    arch = _arch_file(tmp_path)
    assert main(["--arch", str(arch), "--epochs", "1", "--seeds", "2", "--seed", "3",
                 "--device", "cpu"]) == 0
    out = tmp_path / "best-trained"
    report = yaml.safe_load((out / "train.yaml").read_text())
    accs = [r["test_accuracy"] for r in report["runs"]]
    assert report["seeds"] == [3, 4] and report["test_accuracy"] == pytest.approx(statistics.fmean(accs))
    lo, hi = report["test_accuracy_interval95"]
    assert lo <= report["test_accuracy"] <= hi
    data = load_full_data(name="fashion-mnist")
    for r in report["runs"]:  # each file reproduces its own seed's reported accuracy
        model = load_trained(out / r["weights"])
        assert evaluate(model, data.val_x, data.val_y, data)[0] == r["test_accuracy"]
    text = capsys.readouterr().out
    assert "mean of 2 seeds, 95% interval" in text and "estimated: ~" in text


def test_the_searched_budget_is_used_flags_override_it_and_the_run_says_so(tmp_path: Path,
                                                                          fashion_dir: Path, capsys) -> None:
    arch = _arch_file(tmp_path, {"epochs": 2, "batch_size": 50, "lr": 0.05, "weight_decay": 1e-3,
                                 "ema_decay": 0.9})
    budget, sources = full_settings(arch, epochs=30, overrides={"lr": 0.2})
    assert (budget.batch_size, budget.lr, budget.weight_decay, budget.epochs) == (50, 0.2, 1e-3, 30)
    assert budget.ema_decay == 0.0  # a proxy lever, not a full-training setting
    assert sources["batch_size"].startswith("the searched budget") and sources["lr"] == "--lr"
    assert sources["momentum"] == "default"
    assert main(["--arch", str(arch), "--epochs", "1", "--batch-size", "20", "--device", "cpu"]) == 0
    report = yaml.safe_load((tmp_path / "best-trained/train.yaml").read_text())
    assert report["budget"]["batch_size"] == 20 and report["budget"]["lr"] == 0.05
    assert "batch_size 20 (--batch-size)" in capsys.readouterr().out


def test_the_weights_file_holds_what_deployment_needs_and_classifies_an_image(tmp_path: Path,
                                                                             fashion_dir: Path) -> None:
    report = train_full(_arch_file(tmp_path), epochs=1, out=tmp_path / "t", quiet=True)
    ckpt = torch.load(tmp_path / "t/model-seed0.pt", weights_only=True)
    assert ckpt["class_names"][:2] == ["T-shirt/top", "Trouser"] and len(ckpt["class_names"]) == 10
    assert (ckpt["in_channels"], ckpt["input_size"]) == (1, 28) and len(ckpt["mean"]) == 1
    assert "greyscale" in ckpt["preprocessing"] and "centre-crop 28x28" in ckpt["preprocessing"]
    data = load_full_data(name="fashion-mnist")
    # a test image saved as a PNG file classifies as the model does on the tensor
    image = tmp_path / "one.png"
    Image.fromarray(data.val_x[0, 0].numpy().astype(np.uint8), mode="L").save(image)
    top = classify(tmp_path / "t/model-seed0.pt", image, top=10)
    model = load_trained(tmp_path / "t/model-seed0.pt")
    scale = torch.tensor(data.std).view(1, -1, 1, 1) * 255
    logits = model((data.val_x[:1].float() - torch.tensor(data.mean).view(1, -1, 1, 1) * 255) / scale)
    assert top[0][0] == ckpt["class_names"][int(logits.argmax())]
    assert sum(p for _, p in top) == pytest.approx(1.0, abs=1e-5)
    assert report["runs"][0]["weights"] == "model-seed0.pt"


def test_an_interrupted_full_training_continues_and_matches_an_uninterrupted_one(
        tmp_path: Path, fashion_dir: Path, monkeypatch, capsys) -> None:
    import runners.train as train_module
    from runners.trainer import train_proxy

    arch = _arch_file(tmp_path, {"batch_size": 20})
    flags = ["--arch", str(arch), "--epochs", "3", "--seeds", "2", "--device", "cpu",
             "--ema-decay", "0.8", "--erase-prob", "0.3", "--tta-flip"]
    assert main([*flags, "--out", str(tmp_path / "whole")]) == 0
    whole = yaml.safe_load((tmp_path / "whole/train.yaml").read_text())
    assert whole["budget"]["ema_decay"] == 0.8 and whole["budget"]["tta_flip"] is True
    assert whole["settings_from"]["erase_prob"] == "--erase-prob"

    def interrupted(model, data, *, budget, seed, on_epoch, checkpoint):  # Ctrl-C in seed 1's 2nd epoch
        def tick(epoch, epochs, loss):
            on_epoch(epoch, epochs, loss)
            if seed == 1 and epoch == 1:
                raise KeyboardInterrupt

        return train_proxy(model, data, budget=budget, seed=seed, on_epoch=tick, checkpoint=checkpoint)

    monkeypatch.setattr(train_module, "train_proxy", interrupted)
    part = tmp_path / "part"
    assert main([*flags, "--out", str(part)]) == 130
    assert "the same command continues" in capsys.readouterr().err
    assert (part / "model-seed0.pt").exists() and (part / "checkpoint-seed1.pt").exists()
    monkeypatch.setattr(train_module, "train_proxy", train_proxy)
    assert main([*flags, "--out", str(part)]) == 0
    out = capsys.readouterr().out
    assert "seed 0: trained before" in out and "seed 1: continuing from" in out
    assert "seed 1 epoch   1/3" not in out and "seed 1 epoch   2/3" in out  # only what was left
    resumed = yaml.safe_load((part / "train.yaml").read_text())
    assert [r["test_accuracy"] for r in resumed["runs"]] == [r["test_accuracy"] for r in whole["runs"]]
    assert [r["epoch_train_loss"] for r in resumed["runs"]] == [r["epoch_train_loss"] for r in whole["runs"]]
    assert not (part / "checkpoint-seed1.pt").exists()
    # the saved weights are the averaged ones, scored with the mirror: they reproduce the result
    data = load_full_data(name="fashion-mnist")
    for r in resumed["runs"]:
        model = load_trained(part / r["weights"])
        assert evaluate(model, data.val_x, data.val_y, data, tta_flip=True)[0] == r["test_accuracy"]
    # other settings into the same folder: the finished seeds are trained again, not reused
    assert main(["--arch", str(arch), "--epochs", "1", "--device", "cpu", "--out", str(part)]) == 0
    assert "trained before" not in capsys.readouterr().out
