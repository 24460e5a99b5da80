"""Confirmation and claims: seeds, paired intervals, verdicts, interruption, time budget."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import torch
from torch import nn

import studies
from models.attention import register_attention, unregister_attention
from search import run as search_run
from search.training import train_seed
from studies import Confirmation, write_confirmation, write_study, write_trial
from studies.storage import load_existing_study
from tests.helpers import stored_space

SPACE = """\
name: {name}
backbone: {{name: resnet_cifar, depth: 8, width: 8}}
dataset: {{name: fashion-mnist, train_subset: 600, val_fraction: 0.4, download: false}}
budget: {{epochs: 3, batch_size: 50, lr: 0.05}}
objectives: [accuracy, latency_ratio]
latency: {{device: cpu, batch_size: 1, threads: 1, repeats: 5}}
search: {{sampler: random, n_trials: {n_trials}, seed: 0{search_extra}}}
confirm: {{seeds: {seeds}}}
stages:
  all:
    attention:
{modules}
"""


@pytest.fixture()
def test_modules(monkeypatch):
    """Two modules that exist only in these tests: one that wipes the activations out, one that
    does nothing. Their latency ratio is set (x0.3, x0.6; the plain backbone x1.0) so that both sit on
    the single-seed front and get confirmed: the test is about the accuracy claims."""
    from runners.measure import Latency
    from search import objective

    real_measure = objective.measure_latency

    def cheaper(model, shape, **kw) -> Latency:
        lat = real_measure(model, shape, **kw)
        names = {type(m).__name__ for m in model.modules()}
        ratio = 0.3 if "Wipe" in names else 0.6 if "Noop" in names else 1.0
        if lat.ratio is None:
            return lat
        # a fixed ratio, not the measured one: a busy machine must not reorder the front
        return Latency(**{**lat.to_dict(), "ratio": ratio})

    monkeypatch.setattr(objective, "measure_latency", cheaper)

    @register_attention("t_wipe", paper="test", url="-", params_formula="0",
                        placement="after the addition (post_add)")
    class Wipe(nn.Module):  # zeroes every activation after each block: the network cannot learn
        def __init__(self, channels: int) -> None:
            super().__init__()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 0.0

    @register_attention("t_noop", paper="test", url="-", params_formula="0")
    class Noop(nn.Module):  # the identity under another name: never better, never worse
        def __init__(self, channels: int) -> None:
            super().__init__()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    yield
    unregister_attention("t_wipe")
    unregister_attention("t_noop")


def write_space(tmp_path: Path, *, name: str = "c", n_trials: int = 3, seeds: int = 3,
                modules: str = "      none: {}\n      t_wipe: {}\n      t_noop: {}",
                search_extra: str = ", baselines: true") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(SPACE.format(name=name, n_trials=n_trials, seeds=seeds, modules=modules,
                                 search_extra=search_extra))
    return path


def run(space: Path, out: Path, *extra: str, trainer=None) -> int:
    return search_run.main(["--space", str(space), "--out", str(out), "--quiet", *extra], trainer=trainer)


def test_confirmed_report_calls_a_harmful_module_worse_and_a_noop_never_better(
        tmp_path, fashion_dir, test_modules, capsys) -> None:
    space = write_space(tmp_path, seeds=4)
    out = tmp_path / "out"
    assert run(space, out, "--n-trials", "3") == 0
    study = load_existing_study("c", f"sqlite:///{out}/study.db")
    claims = {c.reference: c for c in studies.study_claims(study).claims}
    none, wipe, noop = claims["no attention"], claims["t_wipe everywhere"], claims["t_noop everywhere"]
    assert none.seeds == 4 and none.verdict == "reference"
    # the no-op builds the plain network under another name: with shared initialisation every
    # seed gives exactly the reference's accuracy, so the paired difference is 0, not "better"
    assert noop.seeds == 4 and noop.accuracies == none.accuracies
    assert noop.verdict == "indistinguishable" and noop.diff == 0
    # the wiping module cannot learn: worse on every seed, and the confirmed report says so
    assert wipe.seeds == 4 and wipe.verdict == "worse"
    assert wipe.diff_interval[1] < 0
    text = capsys.readouterr().out
    assert "worse than none" in text and "better than none" not in text
    assert "no placement on the front beats the plain backbone by more than the" in text
    assert "points it can detect: 95% intervals of the paired difference over 4 seeds all include 0" in text


def test_paired_claims_on_a_study_built_by_hand() -> None:
    """A module that is worse on every seed is called worse; one within the noise is not called better."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    write_study(study, objectives=["accuracy", "latency_ratio"])
    write_study(study, space=stored_space(search={"seed": 0}, confirm={"seeds": 3, "level": 0.95}))
    rows = [("none", "no attention", [0.80, 0.78, 0.82], 1.0),
            ("bad", None, [0.70, 0.69, 0.71], 1.1),
            ("noisy", None, [0.83, 0.76, 0.83], 1.2),
            ("good", None, [0.83, 0.81, 0.85], 1.3)]
    for name, ref, accs, ratio in rows:
        t = study.ask()
        for k, v in (("arch_short", name), ("arch_key", name), ("accuracy", accs[0]),
                     ("accuracy_seeds", {"0": accs[0]}), ("latency_ratio", ratio),
                     ("latency_ms", ratio * 2.0), ("latency", {"baseline_median_ms": 2.0})):
            write_trial(t, **{k: v})
        if ref:
            write_trial(t, reference=ref)
        study.tell(t, [accs[0], ratio])
        for seed in (1, 2):
            write_confirmation(study, Confirmation(name, t.number, seed, accs[seed], 0.0, 0.0))
    sc = studies.study_claims(study)
    by = {c.arch_short: c for c in sc.claims}
    assert by["bad"].verdict == "worse"
    assert by["noisy"].verdict == "indistinguishable"
    assert by["good"].verdict == "better"  # +0.03 on every seed: the interval excludes 0
    assert by["good"].diff == pytest.approx(0.03)
    lo, hi = by["good"].diff_interval
    assert lo == pytest.approx(0.03) and hi == pytest.approx(0.03)
    assert "good beats the plain backbone by +3.0 points [+3.0, +3.0]" in sc.verdict
    # the front is on confirmed means: 'noisy' (mean 0.807) sits between none and good
    assert [c.arch_short for c in sc.front] == ["none", "noisy", "good"]
    assert by["none"].latency_ms == pytest.approx(2.0) and by["good"].latency_ms == pytest.approx(2.6)
    assert by["good"].accuracy_text() == "0.8300 ± 0.0497 (3 seeds)"  # t(0.975, 2) x 0.02 / sqrt(3)


def test_confirmation_survives_an_interruption_without_retraining(tmp_path, fashion_dir, test_modules,
                                                                   monkeypatch) -> None:
    space = write_space(tmp_path, name="i", seeds=3)
    out = tmp_path / "out"
    real = train_seed
    calls: list[tuple[str, int]] = []

    def interrupted_on_third(arch, space, data, *, seed, device, budget=None):
        # the search trains seed 0 (search.seeds 1); confirmation adds seeds 1 and 2
        if seed > 0 and len(calls) == 2:
            raise KeyboardInterrupt
        if seed > 0:
            calls.append((arch.short(), seed))
        return real(arch, space, data, seed=seed, device=device, budget=budget)

    assert run(space, out, "--n-trials", "3", trainer=interrupted_on_third) == 130
    study = load_existing_study("i", f"sqlite:///{out}/study.db")
    assert len(studies.confirmations(study)) >= 1
    stored = sum(len(v) for v in studies.confirmations(study).values())
    assert stored == 2
    trials_before = len(study.trials)

    again: list[tuple[str, int]] = []

    def counting(arch, space, data, *, seed, device, budget=None):
        again.append((arch.short(), seed))
        return real(arch, space, data, seed=seed, device=device, budget=budget)

    assert run(space, out, "--n-trials", "3", trainer=counting) == 0
    study = load_existing_study("i", f"sqlite:///{out}/study.db")
    assert len(study.trials) == trials_before  # the search was complete: nothing retrained
    assert not set(calls) & set(again)  # no confirmed seed trained twice
    assert (out / "best.yaml").exists()
    final = sum(len(v) for v in studies.confirmations(study).values())
    assert final == stored + len(again)
    # a third run has nothing left to do
    again.clear()
    assert run(space, out, "--n-trials", "3", trainer=counting) == 0
    assert again == []


PLAIN_MODULES = "      none: {}\n      se: {reduction: [4, 8, 16]}\n      eca: {kernel_size: [3, 5]}"


def test_time_budget_stops_the_search_and_keeps_the_outputs(tmp_path, fashion_dir) -> None:
    space = write_space(tmp_path, name="b", n_trials=12, modules=PLAIN_MODULES,
                        search_extra=", time_budget: 1s")
    out = tmp_path / "out"
    assert run(space, out) == 0
    study = load_existing_study("b", f"sqlite:///{out}/study.db")
    assert 1 <= len(study.trials) < 12
    log = (out / "run.log").read_text()
    assert "time budget 1 s" in log and "stopping the search" in log
    assert (out / "dashboard.html").exists() and (out / "trials.csv").exists()


def test_bad_time_budget_is_one_clear_error(tmp_path, capsys) -> None:
    space = write_space(tmp_path, name="e", modules=PLAIN_MODULES, search_extra=", time_budget: soon")
    assert run(space, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "search.time_budget" in err and "'12m'" in err
    ok = write_space(tmp_path, name="f", modules=PLAIN_MODULES)
    assert run(ok, tmp_path / "out2", "--time-budget", "-3") == 2
    assert "--time-budget: expected a positive duration" in capsys.readouterr().err


def test_latency_objective_holds_still_where_milliseconds_drift() -> None:
    """The issue's recorded case: the plain backbone read 5.57 ms at trial 0 and 6.27 ms when it
    was timed again beside trial 10, while CA in one block read 4.71 ms at a ratio of x1.12.
    On the default objective (latency_ratio) and the ms shown through the study's one scale,
    the same architecture lands within 2% of itself and the heavier one is never faster.
    (How still the ratio is on real timings is measured in bench/, not asserted here.)"""
    study = optuna.create_study(directions=["maximize", "minimize"])
    write_study(study, objectives=["accuracy", "latency_ratio"])
    write_study(study, space=stored_space(search={"seed": 0}, confirm=False))
    rows = [  # (arch, reference, raw ms of the candidate, ratio, baseline ms timed beside it)
        ("none|none|none", "no attention", 5.57, 0.998, 5.58),
        ("se(r=4)|none|none", None, 6.50, 1.030, 6.31),
        ("none|none|none#again", None, 6.27, 1.003, 6.25),  # the plain backbone timed again
        ("none|ca(r=4)[last]|none", None, 4.71, 1.120, 4.21),
    ]
    for name, ref, ms, ratio, base in rows:
        t = study.ask()
        for k, v in (("arch_short", name), ("arch_key", name), ("accuracy", 0.78),
                     ("latency_ms", ms), ("latency_ratio", ratio),
                     ("latency", {"median_ms": ms, "ratio": ratio, "baseline_median_ms": base})):
            write_trial(t, **{k: v})
        if ref:
            write_trial(t, reference=ref)
        study.tell(t, [0.78, ratio])
    by = {c.arch_short: c for c in studies.study_claims(study).claims}
    plain, again, ca = by["none|none|none"], by["none|none|none#again"], by["none|ca(r=4)[last]|none"]
    assert again.values[1] / plain.values[1] == pytest.approx(1.0, abs=0.02)  # raw ms: 12.6% apart
    assert again.latency_ms / plain.latency_ms == pytest.approx(1.0, abs=0.02)
    assert ca.latency_ms > plain.latency_ms and ca.values[1] > plain.values[1]  # raw ms said faster
    assert studies.latency_scale_ms(study) == 5.58  # timed beside the first trial to finish


def test_a_half_finished_confirmation_says_what_is_not_confirmed() -> None:
    """The time budget (or Ctrl-C) stopped confirmation after the reference and one front point:
    the front is on the confirmed ones, and the verdict names the front point still unconfirmed."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    write_study(study, objectives=["accuracy", "latency_ratio"])
    write_study(study, space=stored_space(search={"seed": 0}, confirm={"seeds": 3, "level": 0.95}))
    rows = [("none", "no attention", [0.80, 0.79, 0.81], 1.0), ("a", None, [0.81, 0.80, 0.80], 1.1),
            ("b", None, [0.83], 1.3)]  # b: on the search's front, never confirmed
    for name, ref, accs, ratio in rows:
        t = study.ask()
        for k, v in (("arch_short", name), ("arch_key", name), ("accuracy", accs[0]),
                     ("accuracy_seeds", {"0": accs[0]}), ("latency_ratio", ratio), ("latency_ms", ratio)):
            write_trial(t, **{k: v})
        if ref:
            write_trial(t, reference=ref)
        study.tell(t, [accs[0], ratio])
        for seed, acc in enumerate(accs[1:], start=1):
            write_confirmation(study, Confirmation(name, t.number, seed, acc, 0.0, 0.0))
    sc = studies.study_claims(study)
    assert sc.confirmed and [c.arch_short for c in sc.front] == ["none", "a"]  # a: 0.8033 at x1.1
    assert "1 front architecture(s) of the search are not confirmed yet (#2)" in sc.verdict
