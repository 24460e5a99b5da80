"""``search.run --dry-run``: validate the space, decode its images as the run will, and estimate
what a trial costs, in seconds and without training.

The estimate times training steps of two architectures, the plain backbone and the heaviest
(the most FLOPs among the reference trials and one sampled architecture), so that it brackets
the space instead of swinging with one random draw; on large inputs a step is timed at batch 8
and scaled to the budget's batch (said when it is), which keeps the dry run to seconds even for
a torchvision ResNet at 224 px on a 2-core CPU.
"""

from __future__ import annotations

import optuna
import torch

from models import Architecture, build_model
from runners.data.folder import check_folder
from runners.measure import count_flops
from runners.trainer import seconds_per_step
from search.rungs import rungs_of
from search.sampling import REFERENCE_LABEL, params_to_architecture, reference_trials, suggest_architecture
from search.study import random_start_note
from spaces import FOLDER, SearchSpace

SMALL_BATCH = 8  # a first, cheap timing; the budget's batch is timed as well when that is cheap


def step_seconds(arch: Architecture, *, batch_size: int, device: torch.device,
                 shape: dict[str, int]) -> tuple[float, str]:
    """Seconds of one training step of ``arch`` at ``batch_size``, and how it was had."""
    small = min(batch_size, SMALL_BATCH)
    t = seconds_per_step(build_model(arch), batch_size=small, device=device, steps=1, **shape)
    if small == batch_size:
        return t, ""
    if t * batch_size / small < 0.5:  # the full batch is cheap to time: time it
        return seconds_per_step(build_model(arch), batch_size=batch_size, device=device, steps=2,
                                **shape), ""
    return t * batch_size / small, f", timed at batch {small} and scaled to {batch_size}"


def dry_run(space: SearchSpace, device: torch.device, budget_s: float | None,
            profile_line: str | None) -> int:
    """Print what the run would do and cost; exit code 0.

    Raises:
        DatasetNotFound / DatasetError: a folder's images, as the run would find them.
    """
    cfg = space.config
    refs, skipped = reference_trials(space)
    info = cfg.dataset.info()
    shape = {"in_channels": info.channels, "input_size": info.size, "num_classes": info.classes}
    images = None
    if cfg.dataset.name == FOLDER:
        ds = cfg.dataset
        images = [check_folder(p, image_size=info.size, channels=ds.channels,
                               skip_unreadable=ds.skip_unreadable)
                  for p in (ds.path, ds.val_path) if p is not None]
    study = optuna.create_study(directions=space.directions,
                                sampler=optuna.samplers.RandomSampler(seed=cfg.search.seed))
    sampled = suggest_architecture(study.ask(), space, **shape)
    candidates = [params_to_architecture(space, p, **shape) for _, p in refs] + [sampled]
    plain = next((params_to_architecture(space, p, **shape) for label, p in refs
                  if label == REFERENCE_LABEL), None)
    x = (1, shape["in_channels"], shape["input_size"], shape["input_size"])
    heaviest = max(candidates, key=lambda a: count_flops(build_model(a), x))
    timed = [(plain, "the plain backbone")] if plain is not None else []
    if plain is None or heaviest.key() != plain.key():
        timed.append((heaviest, "the heaviest: most FLOPs of the references and a sampled architecture"))
    n_train, _ = cfg.dataset.split_sizes()
    steps = cfg.budget.steps(n_train)
    seeds = cfg.search.seeds
    per_step = {}
    for arch, why in timed:
        per_step[arch.key()] = (*step_seconds(arch, batch_size=cfg.budget.batch_size, device=device,
                                              shape=shape), why, arch.short())
    print(f"space {space.path} is valid (sha256 {space.sha256[:12]}…)")
    for line in images or []:
        print(f"  images: {line}")
    print(f"  {space.size():,} distinct architectures over {len(space.stages)} stages")
    for s in space.stages:
        convs = [c.name for c in s.convs if c.name != "standard"]
        print(f"  {s.name}: {s.size()} choices — {', '.join(m.name for m in s.modules)}"
              + (f"; convolutions: {', '.join(c.name for c in s.convs)}" if convs else ""))
    print(f"  reference trials: {', '.join(label for label, _ in refs) or 'none'}"
          + (f" (outside the space, skipped: {', '.join(skipped)})" if skipped else ""))
    print(f"  one sampled architecture: {sampled.short()}")
    print(f"  estimated training time per trial on {device} ({seeds} seed(s) x {steps} steps; latency "
          "and validation add a few seconds):")
    for t, how, why, short in per_step.values():
        print(f"    {t * steps * seeds:.0f} s for {why} ({short}: {t * 1e3:.0f} ms a step{how})")
    slowest = max(t for t, *_ in per_step.values())
    fastest = min(t for t, *_ in per_step.values())
    n = cfg.search.n_trials
    print(f"    {n} trials: ~{n * (fastest * steps * seeds + 2) / 60:.0f}-"
          f"{n * (slowest * steps * seeds + 2) / 60:.0f} min")
    if profile_line is not None:
        print(f"  {profile_line}")
    note = random_start_note(cfg.search.sampler, n)
    if note:
        print(f"  {note}")
    rungs = rungs_of(space)
    if rungs is not None and cfg.fidelity is not None:
        print(f"  multi-fidelity: {len(rungs)} rungs, each promotes the best 1/{cfg.fidelity.eta:g} "
              "of what it has seen (non-dominated sorting, crowding distance); the no-attention "
              "reference goes up every rung")
        for r in rungs:
            k = min(r.train_images or n_train, n_train)
            print(f"    {r.describe()}: ~{len(r.seeds) * r.budget.steps(k) * slowest:.0f} s per "
                  "architecture at most")
    if cfg.confirm is not False:
        print(f"  confirmation: the front and the no-attention reference get {cfg.confirm.seeds} "
              f"paired seeds each (~{fastest * steps:.0f}-{slowest * steps:.0f} s per extra training)")
    if budget_s is not None:
        print(f"  time budget: {budget_s / 60:.1f} min for search, confirmation and reports; the search "
              f"stops when one more trial and the confirmation of its current front would not fit "
              f"(n_trials {n} is a cap)")
    return 0
