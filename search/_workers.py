"""The worker loop (``work``), and ``--jobs N``: N worker processes share one study on one machine.

Each worker gets the run plan (``search.plan.RunPlan``), loads the data itself, seeds its sampler with
``seed + index`` (so the workers do not propose the same sequence), uses
``cores // N`` intra-op threads, and runs trials until the study holds
``n_trials`` distinct evaluations (``claims_a_slot`` keeps the total exact).
The parent shows one progress bar and watches the workers: one that dies
(killed, out of memory) has its running trial marked failed and re-queued once,
so nothing finished is lost and the architecture is still evaluated.

``--jobs auto`` (``choose_jobs``) measures how many: on CUDA it evaluates the
plain backbone twice as a trial would (latency, FLOPs, training) and times the
second; a process keeps the GPU busy only for the part of a trial that runs on
it, so ``ceil(trial seconds / GPU seconds)`` processes keep it busy, capped by
the CPU cores the latency timing needs and by GPU memory. Each worker relies on
PyTorch's caching allocator (no memory fraction is set).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import signal
import time

import optuna
import torch
from optuna.trial import TrialState
from tqdm import tqdm

from models import build_model
from runners.data import ProxyData, load_proxy_data
from search.confirm import stop_reason
from search.interrupts import catch_interrupts, raise_if_requested
from search.objective import Objective, evaluate_architecture, run_trials
from search.plan import RunPlan
from search.progress import RunLog, StopRule, quiet_interrupts
from search.sampling import params_to_architecture, reference_trials
from search.study import fail_trial, finished_count, make_sampler
from studies import TrialRecord, make_storage, trial_attrs


def choose_jobs(plan: RunPlan, data: ProxyData) -> tuple[int, str]:
    """``--jobs auto``: worker processes for the plan's space on its device, and why, in words.

    On the CPU one process (its intra-op threads already use every core). On
    CUDA, from a probe: the plain backbone evaluated twice as a trial would be,
    the second timed; the part of a trial that occupies the GPU (training and
    validation, and latency when it is timed on CUDA) against the whole trial.
    """
    space, device = plan.space, plan.device
    if device.type != "cuda":
        return 1, "auto on the CPU: 1 process, whose threads use every core"
    cfg = space.config
    params = reference_trials(space)[0][0][1]
    arch = params_to_architecture(space, params, in_channels=data.in_channels,
                                  input_size=data.input_size, num_classes=data.num_classes)
    seed = cfg.search.seed
    model = build_model(arch, seed=seed)
    baseline = build_model(arch.without_attention(), seed=seed) if plan.needs_baseline else None
    torch.cuda.reset_peak_memory_stats(device)
    marks: dict[str, float] = {}
    for _ in range(2):  # the first pays CUDA's and cuDNN's start-up
        marks["start"] = time.perf_counter()
        evaluate_architecture(arch, plan, data, baseline=baseline, model=model,
                              on_measured=lambda _: marks.__setitem__("measured", time.perf_counter()))
        marks["end"] = time.perf_counter()
    total = marks["end"] - marks["start"]
    measure = marks["measured"] - marks["start"]
    gpu = total - measure + (measure if cfg.latency.device == "cuda" else 0.0)
    by_time = max(1, math.ceil(total / max(gpu, 1e-9)))
    by_cores = max(1, (os.cpu_count() or 1) // cfg.latency.threads)
    free, _ = torch.cuda.mem_get_info(device)
    per_job = max(1, torch.cuda.max_memory_reserved(device))
    by_memory = max(1, int(0.8 * free / per_job))
    n = min(by_time, by_cores, by_memory, cfg.search.n_trials)
    return n, (f"auto on CUDA: {n} process(es); a trial of the plain backbone took {total:.2f} s, "
               f"{gpu:.2f} s of it on the GPU (ceil = {by_time}); caps: {by_cores} by CPU cores for "
               f"{cfg.latency.threads}-thread latency timing, {by_memory} by GPU memory "
               f"({per_job / 2**20:.0f} MiB per process)")


def work(study: optuna.Study, objective: Objective, *, log: RunLog, bar: tqdm | None,
         shared: bool) -> None:
    """The one worker loop, of the search's own process (``--jobs 1``) and of each worker: run
    the plan's trials until the study holds ``n_trials`` distinct evaluations, the space looks
    exhausted, trials keep failing or the time budget's rule stops it (``search.progress.StopRule``).

    ``shared``: other processes may run trials in the study (``run_trials``).

    Raises:
        KeyboardInterrupt: after this process's running trial is failed as interrupted.
    """
    plan = objective.plan
    assert plan.n_trials is not None  # a run plan from search.pipeline.run_search
    stop = StopRule(plan.n_trials, log, bar, space_size=plan.space.size(),
                    stop_reason=lambda s: stop_reason(s, plan),
                    more_work=objective.promote.pending if objective.promote else None)
    run_trials(study, objective, stop=stop, timeout=plan.timeout, shared=shared)


def worker_main(plan: RunPlan, index: int, threads: int) -> None:
    """One worker process: run trials of the shared study until it is full."""
    catch_interrupts()
    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    quiet_interrupts()
    cfg = plan.space.config
    # a folder of images was decoded (and cached) by the parent: this reads the cache
    data = load_proxy_data(**cfg.dataset.model_dump(), seed=cfg.search.seed, device=plan.device,
                           progress=False)
    study = optuna.load_study(study_name=plan.study_name, storage=make_storage(plan.storage),
                              sampler=make_sampler(plan.space, name=plan.sampler,
                                                   seed=plan.sampler_seed + index))
    log = RunLog(plan.out / "run.log", quiet=False, prefix=f"[w{index}] ")
    try:
        work(study, Objective(plan, data), log=log, bar=None, shared=True)
    except KeyboardInterrupt:
        # as in search.run: a heartbeat thread started under Ctrl-C may never stop; the
        # finished trials are committed, so leave without waiting for it
        os._exit(130)


def _recover(study: optuna.Study, pid: int, exitcode: int, log: RunLog) -> None:
    """Fail the running trials of a dead worker and re-queue each once."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        r = TrialRecord.of(t)
        if r.worker != pid:
            continue
        fail_trial(study, t, f"worker {pid} died (exit code {exitcode})")
        # a promotion is not re-queued here: search.rungs enqueues a failed promotion again
        if r.retry_of is None and t.params and r.promoted_from is None:
            study.enqueue_trial(t.params, user_attrs=trial_attrs(
                retry_of=t.number, **({"reference": r.reference} if r.reference is not None else {})))
            log(f"worker {pid} died (exit code {exitcode}): trial {t.number} failed, re-queued once")
        else:
            log(f"worker {pid} died (exit code {exitcode}): trial {t.number} failed")


def run_parallel(study: optuna.Study, plan: RunPlan, *, log: RunLog) -> bool:
    """Run ``plan.jobs`` workers to completion; return True when interrupted (Ctrl-C)."""
    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: no forked torch state
    jobs = plan.jobs
    threads = max(1, (os.cpu_count() or 1) // jobs)
    worker_plan = plan.for_worker()
    procs = []
    for i in range(jobs):
        p = ctx.Process(target=worker_main, args=(worker_plan, i, threads))
        p.start()
        procs.append(p)
    log(f"started {jobs} workers ({threads} thread(s) each): "
        + ", ".join(str(p.pid) for p in procs))
    done0 = finished_count(study)
    assert plan.n_trials is not None
    bar = tqdm(total=max(0, plan.n_trials - done0), unit="trial", disable=plan.quiet, dynamic_ncols=True)
    handled: set[int] = set()
    interrupted = False
    try:
        while any(p.is_alive() for p in procs) or len(handled) < len(procs):
            raise_if_requested()  # a Ctrl-C whose KeyboardInterrupt a finalizer swallowed
            for p in procs:
                if not p.is_alive() and p.pid not in handled:
                    handled.add(p.pid)
                    if p.exitcode not in (0, 130):
                        _recover(study, p.pid, p.exitcode, log)
            bar.n = min(bar.total, finished_count(study) - done0)
            bar.refresh()
            time.sleep(0.5)
    except KeyboardInterrupt:
        interrupted = True
        for p in procs:
            if p.is_alive():
                os.kill(p.pid, signal.SIGINT)
        for p in procs:
            p.join(timeout=60)
    finally:
        bar.close()
    return interrupted
