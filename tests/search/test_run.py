"""End to end through the real CLI, on data and spaces the tests write."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch
import yaml

from models import build_model, load_architecture
from search.run import main
from search.study import finished_count
from studies import StudyRecord, TrialRecord

ROOT = Path(__file__).resolve().parents[2]


def run_cli(args: list[str], cwd: Path, env_data: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if env_data is not None:
        env["ATTNAS_DATA"] = str(env_data)
    return subprocess.run([sys.executable, "-m", "search.run", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_four_trial_study_end_to_end(tiny_space, fashion_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    space = tiny_space("e2e", n_trials=4)
    assert main(["--space", str(space), "--quiet"]) == 0
    out = tmp_path / "runs" / "e2e"
    study = optuna.load_study(study_name="e2e", storage=f"sqlite:///{out / 'study.db'}")
    trials = study.get_trials()
    assert len(trials) == 4
    assert TrialRecord.of(trials[0]).reference == "no attention"
    assert TrialRecord.of(trials[1]).reference == "se everywhere"
    assert TrialRecord.of(trials[1]).arch_short == "se(r=16)|se(r=16)|se(r=16)"
    for t in trials:
        assert t.state == optuna.trial.TrialState.COMPLETE
        r = TrialRecord.of(t)
        assert None not in (r.arch, r.flops, r.params, r.latency, r.train_seconds)
        assert (r.step_path, r.graph_fallback) == ("eager", None)  # a CUDA graph is for CUDA only
    html = (out / "dashboard.html").read_text()
    assert 'id="pareto-front"' in html and "Pareto front" in html
    assert '<script src="http' not in html and len(html) > 1_000_000  # plotly.js embedded
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert len(rows) == 4 and rows[0]["arch_short"] == "none|none|none"
    best = yaml.safe_load((out / "best.yaml").read_text())
    trial = study.trials[best["source"]["trial"]]
    model = build_model(load_architecture(out / "best.yaml"))
    assert sum(p.numel() for p in model.parameters()) == TrialRecord.of(trial).params
    assert best["source"]["space_sha256"] == StudyRecord.of(study).space_sha256


def test_rerun_resumes_instead_of_starting_over(tiny_space, fashion_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    space = tiny_space("resume", n_trials=3)
    assert main(["--space", str(space), "--quiet"]) == 0
    assert main(["--space", str(space), "--quiet", "--n-trials", "5"]) == 0
    study = optuna.load_study(study_name="resume",
                              storage=f"sqlite:///{tmp_path / 'runs/resume/study.db'}")
    assert finished_count(study) == 5  # distinct architectures; duplicates do not count
    assert [TrialRecord.of(t).reference for t in study.trials].count("no attention") == 1


def test_resume_with_a_different_space_file_is_refused(tiny_space, fashion_dir, tmp_path,
                                                       monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    space = tiny_space("changed", n_trials=1)
    assert main(["--space", str(space), "--quiet"]) == 0
    # a comment, blank lines and another layout mean the same space: resume goes on
    text = space.read_text()
    space.write_text("# my notes\n\n" + text.replace("budget: {epochs: 1, batch_size: 50, lr: 0.05}",
                                                      "budget:\n  lr: 0.05   # tuned\n  batch_size: 50\n  epochs: 1"))
    assert main(["--space", str(space), "--quiet", "--n-trials", "2"]) == 0
    space.write_text(text.replace("lr: 0.05", "lr: 0.1"))
    assert main(["--space", str(space), "--quiet", "--n-trials", "3"]) == 2
    err = capsys.readouterr().err
    assert "created from a space whose settings have sha256" in err and "now says something else" in err
    assert "--n-trials N raises the trial count without editing the file" in err


def test_duplicates_are_not_trained_again(tiny_space, fashion_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    extra = ""
    space = tiny_space("dup", n_trials=6, extra=extra)
    # a space with only two architectures: the later trials must all be duplicates
    space.write_text(space.read_text().split("stages:")[0]
                     + "stages:\n  all:\n    attention:\n      none: {}\n"
                     + "  stage1:\n    attention: {none: {}, se: {reduction: 4}}\n")
    assert main(["--space", str(space), "--quiet", "--sampler", "random"]) == 0
    study = optuna.load_study(study_name="dup", storage=f"sqlite:///{tmp_path / 'runs/dup/study.db'}")
    originals = [t for t in study.trials if TrialRecord.of(t).duplicate_of is None]
    dups = [t for t in study.trials if TrialRecord.of(t).duplicate_of is not None]
    # n_trials=6 distinct cannot be reached: the run stops once the sampler only repeats
    assert len(originals) == 2 and len(dups) >= 25
    assert "looks exhausted" in (tmp_path / "runs/dup/run.log").read_text()
    for t in dups:
        src = study.trials[TrialRecord.of(t).duplicate_of]
        assert t.values == src.values and TrialRecord.of(t).train_seconds is not None


def test_constraint_violators_are_recorded_and_not_trained(tiny_space, fashion_dir, tmp_path,
                                                           monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    space = tiny_space("cons", n_trials=2, extra="constraints: {params: {max: 100}}\n")
    assert main(["--space", str(space), "--quiet"]) == 0
    study = optuna.load_study(study_name="cons", storage=f"sqlite:///{tmp_path / 'runs/cons/study.db'}")
    for t in study.trials:
        assert t.state == optuna.trial.TrialState.PRUNED
        assert TrialRecord.of(t).infeasible is True and TrialRecord.of(t).params is not None
        assert TrialRecord.of(t).train_seconds is None
    assert "No complete trial yet" in (tmp_path / "runs/cons/dashboard.html").read_text()
    assert not (tmp_path / "runs/cons/best.yaml").exists()


@pytest.mark.parametrize(("text", "expect"), [
    (None, "space file 'missing.yaml' not found"),
    ("name: [unclosed\n", "invalid YAML"),
    ("name: x\nbudget: {epochs: 1}\nstages: {all: {attention: {se: {}}}}\nbudget: {epochs: 2}\n",
     "bad.yaml: key 'budget' appears twice in one mapping (lines 2 and 4); keep one"),
    ("name: x\nstages:\n  all:\n    attention:\n      se: {}\n      eca: {}\n      se: {reduction: [4]}\n",
     "bad.yaml: key 'se' appears twice in one mapping (lines 5 and 7); keep one"),
    ("name: x\nstages: {all: {attention: {sse: {}}}}\n", "unknown attention (did you mean 'se'?)"),
    ("name: x\nstages: {all: {attention: {se: {reduction: [0]}}}}\n",
     "stages.all.attention.se.reduction[0]: got 0; allowed: an integer in [1, 256]"),
])
def test_bad_input_is_one_message_and_exit_2(tmp_path: Path, text: str | None, expect: str, capsys,
                                             monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # in-process: the same main() that `python -m search.run` calls
    if text is None:
        arg = "missing.yaml"
    else:
        (tmp_path / "bad.yaml").write_text(text)
        arg = str(tmp_path / "bad.yaml")
    assert main(["--space", arg]) == 2
    err = capsys.readouterr().err
    assert expect in err and err.startswith("error: ")
    assert "Traceback" not in err


def test_missing_dataset_is_one_message_and_exit_2(tiny_space, tmp_path: Path, capsys, monkeypatch) -> None:
    import runners.data
    import runners.data.idx

    space = tiny_space("nodata")
    space.write_text(space.read_text().replace("download: false", "download: false, root: /nonexistent"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ATTNAS_DATA", str(tmp_path / "none"))
    monkeypatch.setattr(runners.data.idx, "DEBIAN_DIR", Path("/nonexistent-debian"))
    runners.data.clear_cache()
    assert main(["--space", str(space)]) == 2
    err = capsys.readouterr().err
    assert "Fashion-MNIST (train split) was not found" in err
    assert "Traceback" not in err


def test_dry_run_prints_size_and_a_sample(tiny_space, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--space", str(tiny_space("dry")), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "125 distinct architectures" in out
    assert "one sampled architecture:" in out
    # the estimate brackets the space: the plain backbone and the heaviest, each named
    assert "s for the plain backbone (none|none|none:" in out
    assert "s for the heaviest: most FLOPs of the references and a sampled architecture" in out
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_cuda_asked_for_without_a_gpu_is_exit_2(tiny_space, fashion_dir, tmp_path, monkeypatch,
                                                capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--space", str(tiny_space("nocuda")), "--device", "cuda"]) == 2
    assert ("error: device cuda was asked for, but torch sees no CUDA device"
            in capsys.readouterr().err)
    assert not (tmp_path / "runs").exists()


def test_help_lists_every_flag(tmp_path: Path) -> None:
    proc = run_cli(["--help"], cwd=tmp_path)
    for flag in ("--n-trials", "--timeout", "--study-name", "--storage", "--sampler", "--seed",
                 "--device", "--out", "--quiet", "--dry-run", "--no-baselines"):
        assert flag in proc.stdout


@pytest.mark.parametrize("argv", [
    ["search.run", "--help"], ["search.run", "--space", "x.yaml", "--jobs", "0"],
    ["search.run", "--space", "x.yaml", "--jobs", "many"],
    ["search.export", "--help"], ["search.fidelity", "--help"], ["reports.dashboard", "--help"],
    ["search.export"],  # --study missing: argparse's usage error
])
def test_help_and_flag_errors_answer_without_importing_torch(argv: list[str]) -> None:
    """Every command parses its flags before it loads torch (seconds on a small machine)."""
    code = ("import runpy, sys; sys.argv = sys.argv[1:]\n"
            "try:\n    runpy.run_module(sys.argv[0], run_name='__main__')\n"
            "except SystemExit as e:\n    print('exit', e.code, 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.strip().splitlines()[-1] in ("exit 0 False", "exit 2 False"), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_latency_ratio_objective(tiny_space, fashion_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    space = tiny_space("ratio", n_trials=2)
    # latency at a deployment resolution other than the training size (28 px)
    space.write_text(space.read_text().replace("objectives: [accuracy, latency_ms]",
                                               "objectives: [accuracy, latency_ratio]")
                     .replace("latency: {device: cpu,", "latency: {input_size: 56, device: cpu,"))
    assert main(["--space", str(space), "--quiet", "--jobs", "auto"]) == 0
    assert "--jobs auto on the CPU: 1 process" in (tmp_path / "runs/ratio/run.log").read_text()
    study = optuna.load_study(study_name="ratio", storage=f"sqlite:///{tmp_path / 'runs/ratio/study.db'}")
    for t in study.trials:
        r = TrialRecord.of(t)
        assert t.values[1] == r.latency_ratio > 0
        assert r.latency["baseline_median_ms"] > 0 and r.latency["input_size"] == 56
        # convolutions scale with the pixels: 4x the FLOPs at twice the side
        assert 3.5 * r.flops < r.latency_flops < 4.5 * r.flops
    html = (tmp_path / "runs/ratio/dashboard.html").read_text()
    assert "batch 1 at 56 px on cpu" in html


def test_flops_at_the_deployment_size_as_objective_and_constraint(tiny_space, fashion_dir, tmp_path,
                                                                 monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    limit = 10**9
    space = tiny_space("dflops", n_trials=3, extra=f"constraints: {{latency_flops: {{max: {limit}}}}}\n")
    text = space.read_text().replace("objectives: [accuracy, latency_ms]",
                                     "objectives: [accuracy, latency_flops]")
    space.write_text(text)
    assert main(["--space", str(space), "--dry-run"]) == 2  # no deployment size: refused, named
    err = capsys.readouterr().err
    assert "latency_flops: the FLOPs at latency.input_size" in err and "got latency.input_size: None" in err
    space.write_text(text.replace("latency: {device: cpu,", "latency: {input_size: 56, device: cpu,"))
    assert main(["--space", str(space), "--quiet"]) == 0
    study = optuna.load_study(study_name="dflops", storage=f"sqlite:///{tmp_path / 'runs/dflops/study.db'}")
    recs = [TrialRecord.of(t) for t in study.trials]
    assert len(recs) == 3 and study.directions[1] == optuna.study.StudyDirection.MINIMIZE
    for t, r in zip(study.trials, recs, strict=True):
        assert r.latency_flops is not None and r.latency_flops > 3.5 * r.flops  # at 56 px, not 28
        assert t.values[1] == r.latency_flops
        assert r.constraint_violations["latency_flops_max"] == r.latency_flops - limit


def test_onnxruntime_latency_backend(tiny_space, fashion_dir, tmp_path, monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    monkeypatch.chdir(tmp_path)
    space = tiny_space("ort", n_trials=2)
    space.write_text(space.read_text().replace("latency: {device: cpu,",
                                               "latency: {backend: onnxruntime, device: cpu,"))
    assert main(["--space", str(space), "--quiet", "--no-baselines"]) == 0
    study = optuna.load_study(study_name="ort", storage=f"sqlite:///{tmp_path / 'runs/ort/study.db'}")
    for t in study.trials:
        assert TrialRecord.of(t).latency["device"] == "onnxruntime-cpu"
        assert TrialRecord.of(t).onnx_max_abs_diff < 1e-3
        assert t.values[1] == TrialRecord.of(t).latency_ms > 0


def test_zoo_backbone_and_conv_choices_end_to_end(fashion_dir, tmp_path, monkeypatch) -> None:
    # MobileNetV2 (after_dw, non-local where it fits) and a ResNet stage with ODConv, through
    # the CLI to a best.yaml that rebuilds the trained network
    monkeypatch.chdir(tmp_path)
    space = tmp_path / "zoo.yaml"
    space.write_text("""\
name: zoo
backbone: {name: mobilenet_v2, width: 0.35}
dataset: {name: fashion-mnist, train_subset: 400, val_fraction: 0.25, download: false}
budget: {epochs: 1, batch_size: 50, lr: 0.05}
latency: {device: cpu, batch_size: 1, threads: 1, repeats: 5}
search: {sampler: tpe, n_trials: 2, seed: 0}
confirm: false
stages:
  all:
    attention: {none: {}, cbam: {}, simam: {}, triplet: {kernel_size: 3}}
    position: [after_dw, post_add]
  stage5:
    attention: {nonlocal: {}}
""")
    assert main(["--space", str(space), "--quiet"]) == 0
    out = tmp_path / "runs" / "zoo"
    study = optuna.load_study(study_name="zoo", storage=f"sqlite:///{out / 'study.db'}")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 2
    assert all("|nonlocal(r=2)" in TrialRecord.of(t).arch_short for t in done)
    assert StudyRecord.of(study).stage_names == tuple(f"stage{i}" for i in range(1, 6))
    best = yaml.safe_load((out / "best.yaml").read_text())
    model = build_model(load_architecture(out / "best.yaml"))
    assert sum(p.numel() for p in model.parameters()) == TrialRecord.of(study.trials[best["source"]["trial"]]).params
    assert best["architecture"]["backbone"] == {"name": "mobilenet_v2", "width": 0.35, "stem": "small"}

    space.write_text(space.read_text().replace("name: zoo", "name: od")
                     .replace("{name: mobilenet_v2, width: 0.35}", "{name: resnet_cifar, depth: 8, width: 8}")
                     .replace("[after_dw, post_add]", "pre_add\n    conv: {standard: {}, odconv: {}}")
                     .replace("  stage5:\n    attention: {nonlocal: {}}\n", "")
                     )
    assert main(["--space", str(space), "--quiet"]) == 0
    study = optuna.load_study(study_name="od", storage=f"sqlite:///{tmp_path / 'runs/od/study.db'}")
    refs = [TrialRecord.of(t).reference for t in study.trials]
    assert "odconv everywhere" in refs


def test_tta_on_a_dataset_without_flips_is_one_message(tiny_space, fashion_dir, tmp_path: Path, capsys,
                                                       monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    space = tiny_space("ttaflip")
    space.write_text(space.read_text().replace("download: false", "download: false, flip: false")
                     .replace("lr: 0.05", "lr: 0.05, tta_flip: true"))
    assert main(["--space", str(space), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "budget.tta_flip: fashion-mnist does not allow horizontal flips" in err
    assert "Traceback" not in err
