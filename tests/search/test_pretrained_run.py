"""Searching from trained backbone weights through the real CLI (issue 33): the weights are
found, checked before anything is written, recorded in best.yaml and used by full training."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from models import Architecture, StageChoice, build_model, load_architecture
from runners.train import main as train_main
from search.run import main
from studies import StudyRecord

PLAIN = "{name: resnet_cifar, depth: 8, width: 8}"


def _save_plain(path: Path, *, depth: int = 8, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    arch = Architecture.create(backbone="resnet_cifar", backbone_args={"depth": depth, "width": 8},
                               stages=[StageChoice()] * 3, in_channels=1, input_size=28, num_classes=4)
    torch.save(build_model(arch).state_dict(), path)
    return path


def _space(tiny_space, name: str, weights: Path, n_trials: int = 2) -> Path:
    space = tiny_space(name, n_trials=n_trials)
    space.write_text(space.read_text().replace(PLAIN, PLAIN[:-1] + f", weights: {weights}}}")
                     .replace("budget: {", "budget: {finetune: {pretrained_lr: 0.02}, "))
    return space


def test_a_search_from_weights_records_them_and_full_training_fine_tunes_from_them(
        tiny_space, fashion_dir, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    weights = _save_plain(tmp_path / "trained.pt")
    assert main(["--space", str(_space(tiny_space, "ft", weights)), "--quiet"]) == 0
    best = yaml.safe_load((tmp_path / "runs/ft/best.yaml").read_text())
    recorded = best["architecture"]["backbone"]["weights"]
    assert recorded["path"] == str(weights) and len(recorded["sha256"]) == 64
    assert best["source"]["budget"]["finetune"] == {"pretrained_lr": 0.02, "freeze": 0, "scale_lr": None}
    arch = load_architecture(tmp_path / "runs/ft/best.yaml")
    assert arch.weights is not None and f"weights={recorded['sha256'][:12]}" in arch.key()
    capsys.readouterr()
    assert train_main(["--arch", str(tmp_path / "runs/ft/best.yaml"), "--epochs", "0.2", "--device", "cpu",
                       "--out", str(tmp_path / "full")]) == 0
    out = capsys.readouterr().out
    assert f"fine-tuning from {weights}" in out and "the body at lr 0.02" in out
    report = yaml.safe_load((tmp_path / "full/train.yaml").read_text())
    assert report["budget"]["finetune"] == {"pretrained_lr": 0.02, "freeze": 0, "scale_lr": None}


def test_weights_that_do_not_fit_stop_before_anything_is_written(tiny_space, fashion_dir, tmp_path,
                                                                monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    deeper = _save_plain(tmp_path / "depth14.pt", depth=14)
    assert main(["--space", str(_space(tiny_space, "bad", deeper)), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"backbone.weights: {deeper} does not fit this backbone" in err
    assert "not in the model, first stages.0.1.bn1.bias" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()
    assert main(["--space", str(_space(tiny_space, "gone", tmp_path / "nope.pt")), "--quiet"]) == 2
    assert "nope.pt: no such file" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_resuming_on_other_weights_is_refused_naming_both_hashes(tiny_space, fashion_dir, tmp_path,
                                                                monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    weights = _save_plain(tmp_path / "trained.pt")
    first = torch.load(weights, weights_only=True)
    space = _space(tiny_space, "swap", weights, n_trials=1)
    assert main(["--space", str(space), "--quiet"]) == 0
    before = StudyRecord.of(__import__("optuna").load_study(
        study_name="swap", storage=f"sqlite:///{tmp_path / 'runs/swap/study.db'}")).weights["sha256"]
    _save_plain(weights, seed=1)  # the same file name, other weights
    assert not torch.equal(first["fc.weight"], torch.load(weights, weights_only=True)["fc.weight"])
    capsys.readouterr()
    assert main(["--space", str(space), "--quiet", "--n-trials", "2"]) == 2
    err = capsys.readouterr().err
    from models.pretrained import file_sha256

    assert f"weights with sha256 {before[:12]}" in err and f"now starts from {file_sha256(weights)[:12]}" in err
