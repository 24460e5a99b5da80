"""The torch side of latency profiles (``runners.profile``): what a space's profile times,
building and timing those models in PyTorch, and exporting them to ONNX for a device that
has only ONNX Runtime.
"""

from __future__ import annotations

import itertools
import json
import platform
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from models import Architecture, StageChoice, build_model, get_backbone_spec
from runners.catalog import model_catalog
from runners.latency_profile import PLAIN, Profile, ProfileError, choice_key, load_profile
from runners.measure import measure_latency
from runners.profile_plan import (
    PLAN_FILE,
    Item,
    Options,
    Plan,
    Timer,
    check_architectures,
    cpu_name,
    onnxruntime_device,
    onnxruntime_timers,
    run_plan,
)
from spaces import FOLDER, SearchSpace, SpaceError, StageSpace, load_space


def _combos(hparams: tuple[tuple[str, tuple[Any, ...]], ...]) -> list[dict[str, Any]]:
    names = [h for h, _ in hparams]
    return [dict(zip(names, values, strict=True))
            for values in itertools.product(*(v for _, v in hparams))]


def stage_choices(stage: StageSpace) -> list[StageChoice]:
    """Every choice ``stage`` allows (``stage.size()`` of them): module x hyper-parameters x
    placement (none has no placement) x convolution x its hyper-parameters."""
    out: list[StageChoice] = []
    for m in stage.modules:
        placements = ([("pre_add", "all")] if m.name == "none"
                      else list(itertools.product(stage.positions, stage.blocks)))
        for hp, (position, blocks), conv in itertools.product(_combos(m.hparams), placements,
                                                              stage.convs):
            out += [StageChoice.create(m.name, hp, position=position, blocks=blocks, conv=conv.name,
                                       conv_hparams=chp) for chp in _combos(conv.hparams)]
    return list(dict.fromkeys(out))


def space_choice_keys(space: SearchSpace) -> list[str]:
    """The ``choice_key`` of every non-plain choice of every stage: what a profile must hold."""
    return [choice_key(s.name, c.to_dict()) for s in space.stages for c in stage_choices(s)
            if c.to_dict() != PLAIN]


def profile_target(space: SearchSpace, *, in_channels: int, num_classes: int) -> dict[str, Any]:
    """What a profile of ``space`` is made for; a search refuses a profile made for another.

    The backbone and its settings, the input (channels, the size the models are built
    for, the size they are timed at), the classes, and the batch and threads of the
    timing: each changes the latency being predicted.
    """
    cfg = space.config
    spec = get_backbone_spec(cfg.backbone.name)
    built = cfg.dataset.input_size
    return {"backbone": {"name": spec.name, **spec.canonical_settings(cfg.backbone.settings())},
            "input": {"channels": in_channels, "size": cfg.latency.input_size or built,
                      "built_size": built},
            "num_classes": num_classes, "batch_size": cfg.latency.batch_size,
            "threads": cfg.latency.threads}


def profile_for(space: SearchSpace, *, in_channels: int, num_classes: int) -> Profile | None:
    """The space's ``latency.profile``, read and checked against what the search builds and
    times; None when the space names none.

    Raises:
        ProfileError: the file is missing or unreadable, was made for another backbone,
            input, classes, batch or thread count, or lacks a choice this space allows.
    """
    path = space.config.latency.profile
    if path is None:
        return None
    profile = load_profile(path)
    remake = f"python -m runners.profile --space {space.path} --out {path}"
    problems = profile.mismatches(profile_target(space, in_channels=in_channels,
                                                 num_classes=num_classes))
    if problems:
        raise ProfileError(f"{space.path}: latency.profile: {profile.path} was made for another "
                           f"search ({'; '.join(problems)}); make one for this space on the "
                           f"target device: {remake}")
    missing = profile.missing(space_choice_keys(space))
    if missing:
        raise ProfileError(f"{space.path}: latency.profile: {profile.path} has no measurement for "
                           f"{len(missing)} choice(s) of this space (first: {missing[0]}); on the "
                           f"target device, run: {remake} (it times only what is missing)")
    return profile


def architecture(target: Mapping[str, Any], stages: Sequence[Mapping[str, Any]]) -> Architecture:
    """The model a profile item times."""
    return Architecture.from_dict({"backbone": target["backbone"],
                                   "input": {"channels": target["input"]["channels"],
                                             "size": target["input"]["built_size"]},
                                   "num_classes": target["num_classes"], "stages": list(stages)})


def make_plan(space: SearchSpace, target: Mapping[str, Any], *, check: int, seed: int,
              repeats: int) -> Plan:
    """The table (every stage's non-plain choices in a plain backbone) and ``check``
    random whole architectures."""
    names = tuple(s.name for s in space.stages)
    per_stage = [[c.to_dict() for c in stage_choices(s)] for s in space.stages]
    entries = []
    for i, (name, choices) in enumerate(zip(names, per_stage, strict=True)):
        for choice in choices:
            if choice == PLAIN:
                continue
            stages = tuple(choice if j == i else PLAIN for j in range(len(names)))
            label = StageChoice.create(choice["attention"], choice["hparams"],
                                       position=choice["position"], blocks=choice["blocks"],
                                       conv=choice["conv"], conv_hparams=choice["conv_hparams"]).short()
            entries.append(Item(choice_key(name, choice), label, stages, stage=name))
    checks = [Item("check/" + "|".join(choice_key(n, c) for n, c in zip(names, arch, strict=True)),
                   architecture(target, arch).short(), arch)
              for arch in check_architectures(names, per_stage, check, seed)]
    return Plan(target, names, {"name": space.name, "path": str(space.path), "sha256": space.sha256,
                                "repeats": repeats},
                tuple(entries), tuple(checks))


def _dataset_shape(space: SearchSpace, opts: Options) -> tuple[int, int]:
    """(channels, classes) of the space's dataset, without loading it."""
    ds = space.config.dataset
    if ds.name != FOLDER:
        info = ds.info()
        return opts.channels or info.channels, opts.classes or info.classes
    channels = opts.channels or ds.channels
    classes = opts.classes or (ds.info().classes or None)
    if channels is None or classes is None:
        raise ProfileError(
            f"{space.path}: dataset is a folder ({ds.path}) whose "
            + ("channels are detected from its images" if channels is None else
               "classes are its sub-folders, and it is not on this machine")
            + "; give --channels 1|3 and --classes N as the search machine's dataset has them")
    return channels, classes


def torch_device(name: str, threads: int) -> tuple[torch.device, str]:
    """The device to time on and its description for the profile."""
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ProfileError("--device cuda: torch sees no CUDA device here; allowed: cpu")
        return (torch.device("cuda"), f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}, "
                f"CUDA {torch.version.cuda}")
    return torch.device("cpu"), f"{cpu_name()}, torch {torch.__version__} on CPU, {threads} thread(s)"


def torch_timers(target: Mapping[str, Any], device: torch.device, *, threads: int,
                 repeats: int) -> tuple[Timer, Timer]:
    """(plain, timer): each model built as the search builds it and timed as the search times
    it (``measure_latency``), alternating with the plain backbone."""
    plain_model = build_model(architecture(target, [PLAIN] * len(target_stages(target))), seed=0).to(device)
    shape = (target["batch_size"], target["input"]["channels"], target["input"]["size"],
             target["input"]["size"])

    def time_one(item: Item) -> tuple[float, float, float, float]:
        model = (plain_model if all(s == PLAIN for s in item.stages)
                 else build_model(architecture(target, item.stages), seed=0).to(device))
        lat = measure_latency(model, shape, threads=threads, baseline=plain_model, repeats=repeats)
        assert lat.ratio is not None and lat.baseline_median_ms is not None
        return lat.ratio, lat.median_ms, lat.iqr_ms, lat.baseline_median_ms

    return time_one, time_one


def target_stages(target: Mapping[str, Any]) -> tuple[str, ...]:
    spec = get_backbone_spec(target["backbone"]["name"])
    settings = {k: v for k, v in target["backbone"].items() if k != "name"}
    return tuple(s.name for s in spec.stages(spec.canonical_settings(settings),
                                             target["input"]["built_size"]))


def export_plan(plan: Plan, folder: Path, *, log: Any = print) -> Plan:
    """Write every model of ``plan`` as ONNX into ``folder`` with ``plan.json``; files already
    there from the same plan are kept (an interrupted export resumes)."""
    from runners.onnx_runtime import OnnxUnavailable, export_onnx, max_abs_difference

    folder.mkdir(parents=True, exist_ok=True)
    target = plan.target
    shape = (target["batch_size"], target["input"]["channels"], target["input"]["size"],
             target["input"]["size"])
    entries = tuple(Item(i.key, i.label, i.stages, i.stage, f"e{k:04d}.onnx")
                    for k, i in enumerate(plan.entries))
    checks = tuple(Item(i.key, i.label, i.stages, i.stage, f"c{k:04d}.onnx")
                   for k, i in enumerate(plan.checks))
    done = Plan(plan.target, plan.stages, plan.space, entries, checks, "plain.onnx")
    previous = folder / PLAN_FILE
    same = previous.exists() and json.loads(previous.read_text()) == json.loads(json.dumps(done.to_dict()))
    items = [Item("plain", "plain backbone", tuple(PLAIN for _ in plan.stages), file="plain.onnx"),
             *entries, *checks]
    for k, item in enumerate(items, 1):
        path = folder / str(item.file)
        if same and path.exists():
            continue
        model = build_model(architecture(target, item.stages), seed=0)
        try:
            export_onnx(model, shape, path.with_suffix(".tmp"))
        except OnnxUnavailable as e:
            raise ProfileError(f"--backend onnxruntime: {e}") from None
        diff = max_abs_difference(model, path.with_suffix(".tmp"), shape)
        if diff > 1e-3:
            raise ProfileError(f"{item.label}: ONNX export differs from PyTorch by {diff:.2e}")
        path.with_suffix(".tmp").replace(path)
        log(f"[{k}/{len(items)}] exported {item.label} -> {path.name}")
    previous.write_text(json.dumps(done.to_dict(), indent=1) + "\n")
    return done


def profile_space(opts: Options) -> Profile | None:
    """``runners.profile`` with ``--space``: make, export or resume the space's profile."""
    try:
        space = load_space(str(opts.space), catalog=model_catalog())
    except SpaceError as e:
        raise ProfileError(str(e)) from None
    lat = space.config.latency
    repeats = opts.repeats or lat.repeats
    backend = opts.backend or (lat.backend if lat.backend in ("torch", "onnxruntime") else "torch")
    channels, classes = _dataset_shape(space, opts)
    target = profile_target(space, in_channels=channels, num_classes=classes)
    plan = make_plan(space, target, check=opts.check, seed=opts.seed, repeats=repeats)
    if opts.export_onnx is not None:
        export_plan(plan, opts.export_onnx)
        print(f"wrote {len(plan.entries) + len(plan.checks) + 1} ONNX models and {PLAN_FILE} to "
              f"{opts.export_onnx}; on the device: python -m runners.profile --onnx "
              f"{opts.export_onnx} --out my-device.json")
        return None
    assert opts.out is not None
    if backend == "onnxruntime":
        if (opts.device or lat.device) != "cpu":
            raise ProfileError("--backend onnxruntime times on the CPU; allowed --device: cpu")
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            exported = export_plan(plan, folder)
            plain, timer = onnxruntime_timers(folder, exported, threads=lat.threads,
                                              repeats=repeats)
            return run_plan(exported, opts.out, device=onnxruntime_device(lat.threads),
                            backend=backend, repeats=repeats, plain=plain, timer=timer,
                            restart=opts.restart)
    device, description = torch_device(opts.device or lat.device, lat.threads)
    plain, timer = torch_timers(target, device, threads=lat.threads, repeats=repeats)
    print(f"profiling {space.path} on {description} ({platform.node()})")
    return run_plan(plan, opts.out, device=description, backend=backend, repeats=repeats,
                    plain=plain, timer=timer, restart=opts.restart)
