"""Confirmation: the search's front and the no-attention reference, trained with more seeds.

A search trial is one training (``search.seeds``); its accuracy carries the
seed-to-seed noise of the proxy, which at the default budget is as large as
the gaps along the front. After the search, each front architecture (knee
first, then by accuracy, at most ``confirm.max_architectures``) and the
reference are trained with the seeds ``search.seed .. search.seed +
confirm.seeds - 1``, the same seeds for all, so that differences to the
reference are paired. Shared initialisation (``build_model(arch, seed=s)``)
makes the pairs tighter: two architectures differ only where they differ.

Every training is stored in the study as soon as it ends (a study attribute
per architecture and seed, ``studies.Confirmation``), so a crash or
Ctrl-C loses at most the trainings in progress, and running the same command
again trains only what is missing. With ``--jobs N`` on the CPU the trainings
run N at a time, each in a training process with the thread count the search's
workers had. Trainings go seed by seed (every
architecture at its second seed before any at its third), so a run that the
time budget stops early still has pairs to compare.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import optuna

from models import Architecture
from runners.data import ProxyData
from runners.isolated import in_process
from runners.isolated import pool as training_pool
from runners.trainer import train_architecture
from search.budget import search_stop_reason, seconds_per_training
from search.interrupts import raise_if_requested
from search.plan import RunPlan
from search.rungs import Rung, rung_data
from search.training import TRAINING_FAILURES, train_seed
from studies import (
    Claim,
    Confirmation,
    TrialRecord,
    knee,
    non_dominated,
    records,
    study_claims,
    study_directions,
    write_confirmation,
)


@dataclass(frozen=True)
class ConfirmJob:
    trial: TrialRecord
    seed: int


def confirmation_jobs(study: optuna.Study, plan: RunPlan) -> list[ConfirmJob]:
    """The trainings still missing: reference and front (knee first), seed by seed."""
    space = plan.space
    seeds = plan.confirm_seeds
    if not seeds:
        return []
    claims = study_claims(study)
    # the search's own front (its trials' values), whatever confirmation has done so far
    directions = study_directions(study)

    def search_values(c: Claim) -> tuple[float, ...]:
        return c.search_values

    front = non_dominated(claims.claims, directions, values=search_values)
    if not front:
        return []
    first = knee(front, directions, values=search_values)
    acc = space.config.objectives.index("accuracy") if "accuracy" in space.config.objectives else 0
    ordered = [first] + sorted((c for c in front if c.number != first.number),
                               key=lambda c: (-c.search_values[acc], c.number))
    ordered = ordered[:space.config.confirm.max_architectures]  # type: ignore[union-attr]
    chosen = ([claims.reference] if claims.reference is not None else []) + [
        c for c in ordered if c.verdict != "reference"]
    by_number = {r.number: r for r in records(study)}
    return [ConfirmJob(by_number[c.number], seed) for seed in seeds for c in chosen
            if seed not in c.accuracies]


def stop_reason(study: optuna.Study, plan: RunPlan) -> str | None:
    """``search.budget.search_stop_reason`` for this plan: the reserve is the confirmation of
    the study's front as it stands (``confirmation_jobs``)."""
    return search_stop_reason(study, plan.budget, top_ratio=plan.top_cost_ratio,
                              seeds=plan.rung_seeds,
                              confirmations_left=lambda: len(confirmation_jobs(study, plan)))


def run_confirmation(study: optuna.Study, plan: RunPlan, data: ProxyData, *,
                     log: Callable[[str], None]) -> tuple[int, int]:
    """Train the missing confirmation trainings while ``plan.budget`` allows; store each one as
    it finishes. With ``plan.jobs`` > 1 (on the CPU, with the default trainer) they run that many
    at a time in training processes (``runners.isolated``) of ``cores // jobs`` threads each: the
    thread count the search's ``--jobs`` workers trained with, so every pair is trained alike.
    A plan's own trainer (a test's, a benchmark's cache) trains here, one at a time. A training
    that fails (diverged, out of memory, crashed) is logged and stays missing; the others go on.

    Returns ``(done, planned)``: trainings run now, and trainings that were missing.
    """
    jobs_todo = confirmation_jobs(study, plan)
    if not jobs_todo:
        return 0, 0
    space, device, budget = plan.space, plan.device, plan.budget
    # multi-fidelity: at the top rung's budget, once the front is reported there
    top = plan.rungs[-1] if plan.rungs else None
    if top is not None and study_claims(study).rung != top.index:
        log(f"confirmation waits until the front is compared at the top rung ({top.describe()}): "
            "run the same command again, with more trials or time, to get there")
        return 0, 0
    train_data = data if top is None else rung_data(data, top, seed=space.config.search.seed)
    train_budget = space.config.budget if top is None else top.budget
    per = seconds_per_training(study, top_ratio=plan.top_cost_ratio) or 0.0
    parallel = plan.jobs > 1 and device.type != "cuda" and not in_process() and plan.train is train_seed
    workers = plan.jobs if parallel else 1
    log(f"confirming {len({j.trial.number for j in jobs_todo})} architectures: {len(jobs_todo)} "
        f"trainings (seeds {', '.join(str(s) for s in sorted({j.seed for j in jobs_todo}))}), "
        f"~{per * len(jobs_todo) / workers:.0f} s" + (f" on {workers} processes" if parallel else ""))
    handed: list[tuple[ConfirmJob, float]] = []
    stopped = []

    def handed_out():
        """The jobs, one whenever a process is free, while the budget allows one more."""
        for job in jobs_todo:
            raise_if_requested()  # a Ctrl-C whose KeyboardInterrupt a finalizer swallowed
            if not budget.allows(per):
                stopped.append(len(handed))
                return
            handed.append((job, time.perf_counter()))
            yield job

    if parallel:
        threads = max(1, (os.cpu_count() or 1) // workers)
        calls = (((Architecture.from_dict(j.trial.arch), train_data),  # type: ignore[arg-type]
                  {"budget": train_budget, "seed": j.seed, "device": device}) for j in handed_out())
        results = ((handed[i], out) for i, out in training_pool(workers).map_unordered(
            train_architecture, calls, threads=threads))
    else:
        results = ((handed[-1], _train_here(j, plan, train_data, top)) for j in handed_out())
    done = 0
    for (job, started), r in results:
        t = job.trial
        if isinstance(r, BaseException):
            log(f"confirm #{t.number:<3d} {t.arch_short:<36s} seed {job.seed}  failed: {r}; "
                "run the same command again to retry it")
            continue
        write_confirmation(study, Confirmation(t.arch_key, t.number, job.seed, r["accuracy"],  # type: ignore[arg-type]
                                               r["val_loss"], r["train_seconds"]))
        done += 1
        log(f"confirm #{t.number:<3d} {t.arch_short:<36s} seed {job.seed}  acc {r['accuracy']:.4f}"
            f"  {time.perf_counter() - started:6.1f} s")
    if stopped:
        log(f"confirmation stopped by the time budget after {stopped[0]} of {len(jobs_todo)} "
            f"trainings ({budget.remaining():.0f} s left); run the same command again to finish it")
    return done, len(jobs_todo)


def _train_here(job: ConfirmJob, plan: RunPlan, data: ProxyData,
                top: Rung | None) -> dict | BaseException:
    """One confirmation training through ``plan.train`` (``train_seed``: this process's training
    child on the CPU); a failed training is returned, not raised."""
    try:
        return plan.train(Architecture.from_dict(job.trial.arch), plan.space, data,  # type: ignore[arg-type]
                          seed=job.seed, device=plan.device, budget=None if top is None else top.budget)
    except TRAINING_FAILURES as e:
        return e
