"""From front to model: export, rebuild, ONNX, full training, fidelity (issue 8)."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest
import torch
import yaml

from models import build_model, load_architecture, model_signature
from reports.dashboard import render_dashboard
from runners.train import load_trained, train_full
from search.export import main as export_main
from search.fidelity import run_fidelity
from search.run import main as run_main


@pytest.fixture()
def study_dir(tiny_space, fashion_dir, tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    assert run_main(["--space", str(tiny_space("front", n_trials=4)), "--quiet"]) == 0
    return tmp_path


def _study(root: Path) -> optuna.Study:
    return optuna.load_study(study_name="front", storage=f"sqlite:///{root / 'runs/front/study.db'}")


@pytest.mark.parametrize("pick", ["knee", "max-accuracy", "fastest", "trial=0"])
def test_export_rebuilds_the_trials_network(study_dir: Path, pick: str) -> None:
    out = study_dir / f"{pick.replace('=', '')}.yaml"
    assert export_main(["--study", "front", "--pick", pick, "--out", str(out)]) == 0
    doc = yaml.safe_load(out.read_text())
    trial = _study(study_dir).trials[doc["source"]["trial"]]
    model = build_model(load_architecture(out))
    assert model_signature(model) == trial.user_attrs["signature"]  # same keys and shapes
    assert sum(p.numel() for p in model.parameters()) == trial.user_attrs["params"]
    assert doc["metrics"]["latency"]["threads"] == 1 and doc["metrics"]["latency"]["device"] == "cpu"
    assert doc["architecture"]["input"] == {"channels": 1, "size": 28}


def test_pick_matching_nothing_exits_2_with_the_range(study_dir: Path, capsys) -> None:
    assert export_main(["--study", "front", "--pick", "latency<=0.00001"]) == 2
    assert "the front spans" in capsys.readouterr().err


def test_onnx_export_matches_pytorch(study_dir: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    onnx_path = study_dir / "best.onnx"
    assert export_main(["--study", "front", "--out", str(study_dir / "b.yaml"),
                        "--onnx", str(onnx_path)]) == 0
    assert onnx_path.stat().st_size > 1000


def test_full_training_writes_weights_that_load_back(study_dir: Path, fashion_dir: Path) -> None:
    arch = study_dir / "runs/front/best.yaml"
    report = train_full(arch, epochs=1, out=study_dir / "trained", quiet=True)
    assert 0.0 <= report["test_accuracy"] <= 1.0 and report["test_images"] == 100
    assert len(report["epoch_train_loss"]) == 1
    model = load_trained(study_dir / "trained/model.pt")
    x = torch.randn(4, 1, 28, 28)
    again = load_trained(study_dir / "trained/model.pt")
    assert torch.equal(model(x), again(x))
    saved = torch.load(study_dir / "trained/model.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())
    assert yaml.safe_load((study_dir / "trained/train.yaml").read_text())["weights"] == "model.pt"


def test_fidelity_is_stored_and_shown(study_dir: Path) -> None:
    study = _study(study_dir)
    result = run_fidelity(study, top=3, epochs=1, seeds=2, log=lambda _: None)
    tau = result["kendall_tau"]
    assert math.isnan(tau) or -1.0 <= tau <= 1.0  # NaN when proxy accuracies tie
    assert len(result["seed_spread"]["accuracies"]) == 2
    assert result["train_images"] == 450 and result["val_images"] == 150  # test set unused
    stored = _study(study_dir).user_attrs["fidelity"]
    assert stored["rows"] == result["rows"]
    assert 'id="fidelity"' in render_dashboard(_study(study_dir))
