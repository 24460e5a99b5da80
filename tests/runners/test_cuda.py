"""The CUDA paths, run where there is a GPU (skipped with the reason elsewhere): bf16 +
channels_last training with the step captured in a CUDA graph, CUDA-event latency,
``device: auto`` and ``--jobs 2`` / ``--jobs auto`` on one GPU. ``bench/gpu.sh`` runs them
on the device it measures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch

from runners.data import load_proxy_data
from runners.device import resolve_device
from runners.measure import measure_latency
from runners.trainer import TrainBudget, train_proxy
from studies import TrialRecord
from studies.storage import make_storage
from tests.helpers import small_model

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_auto_picks_the_gpu() -> None:
    device, why = resolve_device("auto")
    assert device.type == "cuda" and "auto" in why and torch.cuda.get_device_name(0) in why


@pytest.mark.parametrize("attention", ["none", "se", "cbam", "ca"])
def test_bf16_channels_last_training_is_captured_and_learns(fashion_dir, attention: str) -> None:
    data = load_proxy_data(name="fashion-mnist", train_subset=600, val_fraction=0.25, seed=0,
                           download=False, device="cuda")
    budget = TrainBudget(epochs=3, batch_size=50, lr=0.05)
    graph = train_proxy(small_model(attention).cuda(), data, budget=budget, seed=0)
    eager = train_proxy(small_model(attention).cuda(), data,
                        budget=budget.model_copy(update={"cuda_graph": False}), seed=0)
    assert (graph.step_path, graph.graph_fallback) == ("cuda_graph", None)
    assert eager.step_path == "eager" and graph.steps == eager.steps == 27
    assert graph.val_accuracy > 0.5 and abs(graph.val_accuracy - eager.val_accuracy) <= 0.05


def test_cuda_latency_uses_events_and_records_peak_memory() -> None:
    model, base = small_model("se").cuda(), small_model("none").cuda()
    lat = measure_latency(model, (1, 1, 28, 28), baseline=base, repeats=5)
    assert lat.device.startswith("cuda") and lat.threads == 0
    assert lat.median_ms > 0 and lat.peak_memory > 0 and lat.ratio > 0  # what is timed, not how fast


@pytest.mark.parametrize("jobs", ["2", "auto"])
def test_workers_share_one_gpu(tiny_space, fashion_dir, tmp_path, jobs: str) -> None:
    space = tiny_space(f"gpu{jobs}", n_trials=4)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "ATTNAS_DATA": str(fashion_dir)}
    proc = subprocess.run([sys.executable, "-m", "search.run", "--space", str(space), "--device", "cuda",
                           "--jobs", jobs, "--quiet"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "runs" / f"gpu{jobs}"
    log = (out / "run.log").read_text()
    assert "training on cuda (" in log
    if jobs == "auto":
        assert "--jobs auto on CUDA:" in log
    url = (f"journal:///{(out / 'study.journal').resolve().as_posix().lstrip('/')}"
           if (out / "study.journal").exists() else f"sqlite:///{out / 'study.db'}")
    study = optuna.load_study(study_name=f"gpu{jobs}", storage=make_storage(url))
    done = [TrialRecord.of(t) for t in study.trials if TrialRecord.of(t).is_original]
    assert len(done) == 4 and all(r.step_path == "cuda_graph" for r in done)


@pytest.mark.parametrize("freeze", [0, 1])
def test_fine_tuning_from_weights_is_captured_and_keeps_frozen_stages(fashion_dir, tmp_path,
                                                                     freeze: int) -> None:
    """Issue 33 on the GPU: a backbone from trained weights, its own learning rate per group
    (tensor rates in the captured step), and frozen stages that stay as loaded."""
    from models import Architecture, StageChoice, build_model
    from models.pretrained import resolve_weights

    def arch(attention: str, weights=None) -> Architecture:
        return Architecture.create(backbone="resnet_cifar", backbone_args={"depth": 8, "width": 8},
                                   stages=[StageChoice.create(attention)] * 3, in_channels=1,
                                   input_size=28, num_classes=10, weights=weights)

    torch.save(build_model(arch("none"), seed=1).state_dict(), tmp_path / "trained.pt")
    weights = resolve_weights("resnet_cifar", str(tmp_path / "trained.pt"))
    model = build_model(arch("se", weights), seed=0).cuda()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = load_proxy_data(name="fashion-mnist", train_subset=600, val_fraction=0.25, seed=0,
                           download=False, device="cuda")
    r = train_proxy(model, data, seed=0, budget=TrainBudget(epochs=2, batch_size=50, lr=0.05,
                                                            finetune={"freeze": freeze}))
    assert (r.step_path, r.graph_fallback) == ("cuda_graph", None)
    after = model.state_dict()
    stem = [k for k in before if k.startswith("stem.")]
    assert all(torch.equal(before[k], after[k]) for k in stem) == (freeze == 1)
    assert not torch.equal(before["fc.weight"], after["fc.weight"])
