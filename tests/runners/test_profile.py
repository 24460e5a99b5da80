"""Latency profiles (runners.profile): what is timed, the prediction, resuming, refusing
to mix, bad files, the command, and the ONNX Runtime path without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runners.catalog import model_catalog
from runners.latency_profile import PLAIN, ProfileError, choice_key, load_profile
from runners.profile import main
from runners.profile_models import space_choice_keys, stage_choices
from runners.profile_plan import Plan, calibrate, run_plan
from spaces import SPACES_DIR, load_space
from stats import prediction_errors
from tests.helpers import FakeTimer, profile_plan

ROOT = Path(__file__).resolve().parents[2]
TARGET = {"backbone": {"name": "resnet_cifar", "depth": 8, "width": 8},
          "input": {"channels": 1, "size": 28, "built_size": 28}, "num_classes": 10,
          "batch_size": 1, "threads": 1}


@pytest.mark.parametrize("name", ["tiny", "attention", "zoo", "resnet18", "mobilenet_v2"])
def test_every_choice_of_every_stage_is_listed_once(name) -> None:
    space = load_space(SPACES_DIR / f"{name}.yaml", catalog=model_catalog())
    for stage in space.stages:
        choices = stage_choices(stage)
        assert len(choices) == len(set(choices)) == stage.size()
    # the table: every choice but the plain one, in every stage
    assert len(space_choice_keys(space)) == sum(s.size() - 1 for s in space.stages)


def test_additive_prediction_and_check(tiny_space, tmp_path) -> None:
    plan = profile_plan(tiny_space)
    timer = FakeTimer()
    profile = run_plan(plan, tmp_path / "p.json", device="fake", backend="torch", repeats=5,
                       plain=timer, timer=timer, log=lambda s: None)
    assert len(plan.entries) == 3 * 4  # se x2, eca x2 in each of 3 stages
    assert profile.plain_ms == 2.0
    # plain + every entry + every check, each once
    assert len(timer.calls) == 1 + len(plan.entries) + len(plan.checks)
    se, eca = (dict(PLAIN, attention="se", hparams={"reduction": 4}),
               dict(PLAIN, attention="eca", hparams={"kernel_size": 3}))
    assert profile.predict_ratio([se, PLAIN, eca]) == pytest.approx(1 + 0.10 + 0.04 + 0.02)
    assert profile.predict_ms([PLAIN, PLAIN, PLAIN]) == 2.0
    # the fake cost is additive, so the check on whole architectures finds no error
    assert profile.check["architectures"] == 4
    assert profile.check["median_ape_pct"] == pytest.approx(0, abs=1e-9)
    assert profile.check["kendall_tau"] == pytest.approx(1.0)
    with pytest.raises(ProfileError, match="no measurement for stage2"):
        profile.predict_ratio([PLAIN, dict(PLAIN, attention="ca", hparams={"reduction": 16}), PLAIN])


def test_calibration_scales_increments_and_reports_out_of_sample_error() -> None:
    # whole architectures cost 80% of the summed increments, with +-1% noise
    sums = [0.1, 0.2, 0.3, 0.4, 0.5, 0.25]
    ratios = [1 + 0.8 * s * (1 + e) for s, e in zip(sums, [0.01, -0.01, 0.0, 0.01, -0.01, 0.0],
                                                       strict=True)]
    record, predicted = calibrate(sums, ratios)
    assert record["scale"] == pytest.approx(0.8, abs=0.01)
    assert record["uncalibrated"]["median_ape_pct"] > 4  # the plain sum overestimates
    errors = prediction_errors(zip(predicted, ratios, strict=True))
    assert errors["median_ape_pct"] < 1.0
    # each check prediction uses a scale fitted without it: not the in-sample fit
    assert predicted != [1 + record["scale"] * s for s in sums]
    # too few, or a fit that is noise, leave the scale at 1 and say why
    few = calibrate(sums[:2], ratios[:2])[0]
    assert (few["scale"], few["skipped"]) == (1.0, "fewer than 3 architectures")
    assert "too noisy" in calibrate(sums, [1 - 0.5 * s for s in sums])[0]["skipped"]


def test_interrupted_profile_resumes_without_retiming(tiny_space, tmp_path) -> None:
    plan, out = profile_plan(tiny_space), tmp_path / "p.json"
    first = FakeTimer(stop_at=6)  # plain + 5 entries, then Ctrl-C
    with pytest.raises(KeyboardInterrupt):
        run_plan(plan, out, device="fake", backend="torch", repeats=5, plain=first, timer=first,
                 log=lambda s: None)
    saved = json.loads(out.read_text())
    assert len(saved["entries"]) == 5 and saved["pending"] == len(plan.entries) + len(plan.checks) - 5
    with pytest.raises(ProfileError, match="unfinished"):
        load_profile(out)
    second = FakeTimer()
    profile = run_plan(plan, out, device="fake", backend="torch", repeats=5, plain=second,
                       timer=second, log=lambda s: None)
    # nothing timed twice but the plain backbone (timed again for the estimate of the time left)
    assert not set(first.calls[1:]) & set(second.calls)
    assert second.calls[0] == "plain" and len(second.calls) == 1 + len(plan.entries) + len(plan.checks) - 5
    assert len(profile.increments) == len(plan.entries)
    # another device or another target does not mix into the file; --restart replaces it
    with pytest.raises(ProfileError, match="timed on 'fake'"):
        run_plan(plan, out, device="other", backend="torch", repeats=5, plain=second, timer=second)
    other = Plan({**plan.target, "threads": 4}, plan.stages, plan.space, plan.entries, plan.checks)
    with pytest.raises(ProfileError, match="threads: 1 there, 4 now"):
        run_plan(other, out, device="fake", backend="torch", repeats=5, plain=second, timer=second)
    run_plan(other, out, device="fake", backend="torch", repeats=5, plain=second, timer=second,
             restart=True, log=lambda s: None)
    assert load_profile(out).target["threads"] == 4


def test_bad_profile_files_are_named(tmp_path) -> None:
    with pytest.raises(ProfileError, match="cannot read the latency profile.*runners.profile"):
        load_profile(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ProfileError, match="invalid JSON"):
        load_profile(bad)
    bad.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ProfileError, match="format must be 'attnas-latency-profile'"):
        load_profile(bad)
    bad.write_text(json.dumps({"format": "attnas-latency-profile", "version": 1, "pending": 0}))
    with pytest.raises(ProfileError, match="missing or malformed field"):
        load_profile(bad)


def test_command_times_a_real_space_and_bad_arguments_exit_2(tiny_space, fashion_dir, tmp_path,
                                                            capsys) -> None:
    space, out = tiny_space("cli"), tmp_path / "dev.json"
    assert main(["--space", str(space), "--out", str(out), "--check", "3", "--repeats", "4"]) == 0
    printed = capsys.readouterr().out
    assert "[15/15]" in printed and "left" in printed  # progress with an estimate
    profile = load_profile(out)
    assert len(profile.increments) == 12 and profile.check["architectures"] == 3
    assert profile.target == TARGET and "torch" in profile.device
    assert all(0.5 < 1 + v < 3 for v in profile.increments.values())
    assert "checked on 3 random architectures" in printed
    # the same command again: finished, nothing to time
    assert main(["--space", str(space), "--out", str(out), "--check", "3", "--repeats", "4"]) == 0
    assert "0 of 15 measurements to make (resuming)" in capsys.readouterr().out
    for argv, message in ((["--out", str(out)], "--space is required"),
                          (["--space", str(space)], "--out FILE is required"),
                          (["--space", str(space), "--out", str(out), "--check", "-1"], "--check"),
                          (["--space", str(space), "--out", str(out), "--repeats", "2"], "--repeats")):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2 and message in capsys.readouterr().err
    assert main(["--space", str(tmp_path / "missing.yaml"), "--out", str(out)]) == 2
    assert "missing.yaml" in capsys.readouterr().err


def test_onnx_runtime_device_needs_no_torch(tiny_space, fashion_dir, tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    space, folder, out = tiny_space("onnx"), tmp_path / "export", tmp_path / "ort.json"
    assert main(["--space", str(space), "--export-onnx", str(folder), "--check", "2"]) == 0
    assert (folder / "plan.json").exists() and len(list(folder.glob("*.onnx"))) == 1 + 12 + 2
    # the device: torch cannot be imported there
    code = ("import sys; sys.modules['torch'] = None\n"
            "from runners.profile import main\n"
            f"sys.exit(main(['--onnx', {str(folder)!r}, '--out', {str(out)!r}, '--repeats', '4']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    profile = load_profile(out)
    assert "ONNX Runtime" in profile.device and len(profile.increments) == 12
    assert profile.target == TARGET
    keys = set(profile.increments)
    assert choice_key("stage1", dict(PLAIN, attention="se", hparams={"reduction": 4})) in keys


def test_the_torch_profile_needs_no_optuna(tiny_space, fashion_dir, tmp_path) -> None:
    # the target device has torch and this package's light dependencies, not the search's
    space, out = tiny_space("light"), tmp_path / "dev.json"
    code = ("import sys\n"
            "for m in ('optuna', 'plotly', 'scipy', 'sqlalchemy'): sys.modules[m] = None\n"
            "from runners.profile import main\n"
            f"sys.exit(main(['--space', {str(space)!r}, '--out', {str(out)!r}, '--check', '0', "
            "'--repeats', '4']))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert len(load_profile(out).increments) == 12
