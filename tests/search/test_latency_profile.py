"""Searches with a latency profile (latency.profile): latency predicted for the profiled device,
recorded with where it came from, shown beside measured latency; a profile made for another
search refused with exit 2."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from runners.latency_profile import load_profile
from runners.profile_plan import run_plan
from search.run import main as search_main
from studies import StudyRecord, TrialRecord
from tests.helpers import FakeTimer, profile_plan


def _profile_for_tiny(tiny_space, tmp_path: Path, *, check: int = 0) -> Path:
    out = tmp_path / "dev.json"
    plan = profile_plan(tiny_space, check=check)
    run_plan(plan, out, device="fake device", backend="torch", repeats=5, plain=FakeTimer(),
             timer=FakeTimer(), log=lambda s: None)
    return out


def _search(tiny_space, tmp_path: Path, name: str, latency: str) -> tuple[optuna.Study, Path]:
    """Run a 3-trial search of the tiny space whose latency block starts with ``latency``."""
    space = tiny_space(name, n_trials=3)
    space.write_text(space.read_text().replace("latency: {device: cpu,",
                                               f"latency: {{{latency}, device: cpu,"))
    assert search_main(["--space", str(space), "--quiet"]) == 0
    runs = tmp_path / "runs" / name
    return optuna.load_study(study_name=name, storage=f"sqlite:///{runs / 'study.db'}"), runs


def test_search_predicts_latency_from_a_profile(tiny_space, fashion_dir, tmp_path, monkeypatch,
                                                 capsys) -> None:
    monkeypatch.chdir(tmp_path)
    profile = _profile_for_tiny(tiny_space, tmp_path, check=3)
    study, runs = _search(tiny_space, tmp_path, "pred", f"backend: profile, profile: {profile}")
    loaded = load_profile(profile)
    assert StudyRecord.of(study).latency_profile["sha256"] == loaded.sha256
    for t in study.trials:
        r = TrialRecord.of(t)
        expected = loaded.predict_ms(r.arch["stages"])
        assert t.values[1] == r.latency_ms == r.predicted_latency_ms == pytest.approx(expected)
        assert r.latency["source"] == "predicted" and r.latency["device"] == "fake device"
    html = (runs / "dashboard.html").read_text()
    assert "latency predicted for fake device" in html and "latency ms (predicted)" in html
    best = (runs / "best.yaml").read_text()
    assert "latency_source: predicted" in best and loaded.sha256 in best
    assert "latency predicted for fake device" in (runs / "run.log").read_text()
    assert search_main(["--space", str(tmp_path / "pred.yaml"), "--dry-run"]) == 0
    assert "latency predicted for fake device" in capsys.readouterr().out


def test_search_refuses_a_profile_made_for_something_else(tiny_space, fashion_dir, tmp_path,
                                                          monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    profile = _profile_for_tiny(tiny_space, tmp_path)
    space = tiny_space("wrong", n_trials=2)
    text = space.read_text().replace("latency: {device: cpu,",
                                     f"latency: {{backend: profile, profile: {profile}, device: cpu,")
    space.write_text(text.replace("depth: 8", "depth: 14"))
    assert search_main(["--space", str(space), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "was made for another search" in err and "'depth': 8" in err and "'depth': 14" in err
    # a choice the profile never timed
    space.write_text(text.replace("eca: {kernel_size: [3, 5]}", "eca: {kernel_size: [3, 5, 7]}"))
    assert search_main(["--space", str(space), "--quiet"]) == 2
    assert "has no measurement for 3 choice(s)" in capsys.readouterr().err
    # timed at another size
    space.write_text(text.replace("device: cpu,", "device: cpu, input_size: 56,"))
    assert search_main(["--space", str(space), "--quiet"]) == 2
    assert "'size': 28" in capsys.readouterr().err
    # no file at all, also in a dry run
    space.write_text(text.replace(str(profile), str(tmp_path / "absent.json")))
    assert search_main(["--space", str(space), "--dry-run"]) == 2
    assert "absent.json: cannot read the latency profile" in capsys.readouterr().err
    # backend: profile without a profile
    space.write_text(text.replace(f"profile: {profile}, ", ""))
    assert search_main(["--space", str(space), "--quiet"]) == 2
    assert "backend: profile needs profile: FILE" in capsys.readouterr().err


def test_timed_search_shows_predicted_beside_measured(tiny_space, fashion_dir, tmp_path,
                                                      monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    profile = _profile_for_tiny(tiny_space, tmp_path)
    study, runs = _search(tiny_space, tmp_path, "both", f"profile: {profile}, relative: true")
    loaded = load_profile(profile)
    for t in study.trials:
        r = TrialRecord.of(t)
        assert r.latency["source"] == "measured" and r.latency_ratio > 0
        assert r.predicted_latency_ratio == pytest.approx(loaded.predict_ratio(r.arch["stages"]))
    html = (runs / "dashboard.html").read_text()
    assert "latency-prediction" in html and "predicted ms (profile)" in html
    assert "predicted_latency_ms" in (runs / "trials.csv").read_text().splitlines()[0]
