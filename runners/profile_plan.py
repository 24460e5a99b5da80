"""Making a latency profile, torch-free: what one times (``Plan``), timing it with resume and
calibration (``run_plan``), and ONNX Runtime timing of an exported plan. The file format and
the prediction are ``runners.latency_profile``; a target device may have only ONNX Runtime and
NumPy, so nothing here imports torch.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runners.latency_profile import (
    FORMAT,
    PLAIN,
    VERSION,
    Profile,
    ProfileError,
    choice_key,
    load_profile,
)
from runners.timing import time_calls
from stats import prediction_errors

PLAN_FILE = "plan.json"  # what --export-onnx writes beside the ONNX files
BACKENDS = ("torch", "onnxruntime")


@dataclass(frozen=True)
class Item:
    """One thing to time against the plain backbone: a stage choice, or a whole architecture
    for the check. ``stages``: the architecture's stage choices (``to_dict`` form)."""

    key: str
    label: str
    stages: tuple[Mapping[str, Any], ...]
    stage: str | None = None  # a table entry's stage; None for a check architecture
    file: str | None = None  # its ONNX file, in an exported plan


@dataclass(frozen=True)
class Plan:
    """Everything one profile times, and what it is made for (``--export-onnx`` writes it)."""

    target: Mapping[str, Any]
    stages: tuple[str, ...]
    space: Mapping[str, Any]
    entries: tuple[Item, ...]
    checks: tuple[Item, ...]
    plain_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        def item(i: Item) -> dict[str, Any]:
            return {"key": i.key, "label": i.label, "stage": i.stage, "stages": list(i.stages),
                    "file": i.file}
        return {"format": FORMAT + "-plan", "version": VERSION, "made_for": dict(self.target),
                "stages": list(self.stages), "space": dict(self.space), "plain_file": self.plain_file,
                "entries": [item(i) for i in self.entries], "checks": [item(i) for i in self.checks]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: Path) -> Plan:
        if data.get("format") != FORMAT + "-plan" or data.get("version") != VERSION:
            raise ProfileError(f"{where}: not an exported profile plan of version {VERSION} "
                               "(made by runners.profile --export-onnx)")
        def item(d: Mapping[str, Any]) -> Item:
            return Item(d["key"], d["label"], tuple(d["stages"]), d.get("stage"), d.get("file"))
        return cls(data["made_for"], tuple(data["stages"]), data["space"],
                   tuple(item(d) for d in data["entries"]), tuple(item(d) for d in data["checks"]),
                   data.get("plain_file"))


def check_architectures(stage_names: Sequence[str], choices: Sequence[Sequence[Mapping[str, Any]]],
                        n: int, seed: int) -> list[tuple[Mapping[str, Any], ...]]:
    """``n`` distinct random architectures (uniform over each stage's choices, seeded),
    each as its stage choices; fewer when the space has fewer."""
    rng = random.Random(seed)
    seen: dict[str, tuple[Mapping[str, Any], ...]] = {}
    total = math.prod(len(c) for c in choices)
    for _ in range(50 * n):
        if len(seen) >= min(n, total):
            break
        arch = tuple(rng.choice(c) for c in choices)
        seen.setdefault("|".join(choice_key(s, c) for s, c in zip(stage_names, arch, strict=True)), arch)
    return list(seen.values())


# timer(item) -> (ratio, median ms, IQR ms, plain median ms) of item against the plain backbone
Timer = Callable[[Item], tuple[float, float, float, float]]


def _fmt_s(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _write_atomic(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def _resume(out: Path, plan: Plan, device: str, *, restart: bool) -> dict[str, Any] | None:
    """The measurements already in ``out`` that this plan can keep; None to start afresh."""
    if restart or not out.exists():
        return None
    try:
        data = json.loads(out.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ProfileError(f"{out}: exists and is not a readable profile ({e}); choose another "
                           "--out or pass --restart to replace it") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ProfileError(f"{out}: exists and is not a version-{VERSION} latency profile; choose "
                           "another --out or pass --restart to replace it")
    if data.get("made_for") != dict(plan.target):
        diff = [f"{k}: {data.get('made_for', {}).get(k)!r} there, {v!r} now"
                for k, v in plan.target.items() if data.get("made_for", {}).get(k) != v]
        raise ProfileError(f"{out}: was made for something else ({'; '.join(diff)}); choose "
                           "another --out or pass --restart to replace it")
    if data.get("device") != device:
        raise ProfileError(f"{out}: was timed on {data.get('device')!r}, this is {device!r}; ratios "
                           "from two machines do not mix: resume it there, or pass --restart")
    return data


def run_plan(plan: Plan, out: Path, *, device: str, backend: str, repeats: int, plain: Timer,
             timer: Timer, restart: bool = False, log: Callable[[str], None] = print) -> Profile:
    """Time every entry and check of ``plan`` that ``out`` does not hold yet, saving after each.

    ``plain`` times the plain backbone against itself (its median is the profile's
    plain ms); ``timer`` times an item against it. Returns the finished profile.
    """
    old = _resume(out, plan, device, restart=restart)
    done = {e["key"]: e for e in (old or {}).get("entries", [])}
    checked = {c["key"]: c for c in (old or {}).get("check", {}).get("items", [])}
    entries = list(done.values())  # all kept: the same target, maybe another space's choices
    items = [c for c in (old or {}).get("check", {}).get("items", []) if c["key"] in
             {i.key for i in plan.checks}]
    todo = [i for i in plan.entries if i.key not in done] + [i for i in plan.checks if i.key not in checked]
    total = len(plan.entries) + len(plan.checks)
    data: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "made_for": dict(plan.target), "device": device,
        "backend": backend, "stages": list(plan.stages), "space": dict(plan.space),
        "repeats": repeats, "plain": (old or {}).get("plain"), "entries": entries,
        "check": {"items": items}, "pending": len(todo),
        "seconds": float((old or {}).get("seconds", 0.0)),
    }
    start = time.perf_counter()
    before = data["seconds"]
    # the plain backbone timed against itself: its median, and how long one measurement takes
    ratio, med, iqr, _ = plain(Item("plain", "plain backbone", tuple(PLAIN for _ in plan.stages)))
    one = time.perf_counter() - start
    data["plain"] = data["plain"] or {"median_ms": med, "iqr_ms": iqr}
    _write_atomic(out, data)
    log(f"profile {out}: {device}; plain backbone {med:.3f} ms; {len(todo)} of {total} "
        f"measurements to make" + (" (resuming)" if old else "")
        + (f", about {_fmt_s(one * len(todo))} (measurements with attention take longer)"
           if todo else ""))
    for k, item in enumerate(todo, 1):
        ratio, med, iqr, base = timer(item)
        row = {"key": item.key, "label": item.label, "ratio": ratio, "median_ms": med, "iqr_ms": iqr,
               "plain_ms": base}
        if item.stage is not None:
            choice = item.stages[plan.stages.index(item.stage)]
            entries.append({**row, "stage": item.stage, "choice": dict(choice)})
        else:
            items.append({**row, "stages": list(item.stages)})
        data["pending"] = len(todo) - k
        data["seconds"] = before + time.perf_counter() - start
        _write_atomic(out, data)
        per = (time.perf_counter() - start - one) / k
        where = item.stage or "check"
        log(f"[{total - len(todo) + k}/{total}] {where} {item.label}: x{ratio:.3f} "
            f"({med:.3f} ms, IQR {iqr / med * 100 if med else 0:.1f}%); "
            f"{_fmt_s(per * (len(todo) - k))} left")
    if entries:  # every entry timed the plain backbone too: their median is the steadiest
        base = [e["plain_ms"] for e in entries]
        q1, _, q3 = statistics.quantiles(base, n=4, method="inclusive") if len(base) > 1 else (0, 0, 0)
        data["plain"] = {"median_ms": statistics.median(base), "iqr_ms": q3 - q1,
                         "timings": len(base)}
    if plan.checks:
        profile = Profile.from_data(out, data)  # uncalibrated: the sums are what is fitted
        sums = [profile.increment_sum(c["stages"]) for c in items]
        data["calibration"], predicted = calibrate(sums, [c["ratio"] for c in items])
        data["check"] = {**prediction_errors(zip(predicted, (c["ratio"] for c in items), strict=True)),
                         "calibrated": "skipped" not in data["calibration"], "items": items}
    _write_atomic(out, data)
    return load_profile(out)


SCALE_RANGE = (0.5, 2.0)  # a fitted calibration outside it is refused as noise


def calibrate(sums: Sequence[float], ratios: Sequence[float]) -> tuple[dict[str, Any], list[float]]:
    """Fit ``ratio - 1 = scale x sum of increments`` on whole architectures timed on the device.

    Increments measured one stage at a time need not add up exactly (on the 2-core
    development machine they overestimate attention.yaml's architectures by about 2%;
    BENCHMARKS.md). Returns the calibration record and each architecture's prediction
    with the scale fitted on the *others* (leave-one-out), so the check's error is the
    error on architectures the fit did not see. With fewer than 3 architectures, or a
    fit outside ``SCALE_RANGE``, the scale stays 1 and the record says why.
    """
    uncalibrated = [1.0 + s for s in sums]
    record: dict[str, Any] = {"scale": 1.0, "architectures": len(sums),
                              "uncalibrated": prediction_errors(zip(uncalibrated, ratios, strict=True))}

    def fit(idx: Sequence[int]) -> float | None:
        den = sum(sums[i] ** 2 for i in idx)
        return sum(sums[i] * (ratios[i] - 1.0) for i in idx) / den if den > 0 else None

    scale = fit(range(len(sums))) if len(sums) >= 3 else None
    if scale is None or not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
        record["skipped"] = ("fewer than 3 architectures" if len(sums) < 3 else
                             f"the fit gave {scale}, outside {SCALE_RANGE}: too noisy to calibrate")
        return record, uncalibrated
    loo = []
    for i in range(len(sums)):
        s = fit([j for j in range(len(sums)) if j != i])
        loo.append(1.0 + (s if s is not None else 1.0) * sums[i])
    record["scale"] = scale
    return record, loo


# ---- ONNX Runtime: time an exported plan without torch ---------------------------------


def onnxruntime_device(threads: int) -> str:
    import onnxruntime as ort

    return f"{cpu_name()}, ONNX Runtime {ort.__version__} on CPU, {threads} thread(s)"


def cpu_name() -> str:
    """The processor's model name where the OS says it, and its core count."""
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine()
    return f"{name} ({os.cpu_count()} cores, {platform.system()} {platform.release()})"


def onnxruntime_timers(folder: Path, plan: Plan, *, threads: int,
                       repeats: int) -> tuple[Timer, Timer]:
    """(plain, timer) over the ONNX files of an exported plan, in ONNX Runtime on CPU."""
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        raise ProfileError(f"--onnx needs onnxruntime and numpy on this machine ({e}): "
                           "pip install onnxruntime") from None

    def session(name: str) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        path = folder / name
        if not path.is_file():
            raise ProfileError(f"{path}: missing from the exported plan; export it again")
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    target = plan.target
    shape = (target["batch_size"], target["input"]["channels"], target["input"]["size"],
             target["input"]["size"])
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    assert plan.plain_file is not None
    base = session(plan.plain_file)
    feed = {base.get_inputs()[0].name: x}

    def time_one(item: Item) -> tuple[float, float, float, float]:
        sess = base if item.file is None else session(item.file)
        lat = time_calls(lambda: sess.run(None, feed), baseline=lambda: base.run(None, feed),
                         device="onnxruntime-cpu", batch_size=shape[0], threads=threads,
                         repeats=repeats)
        assert lat.ratio is not None and lat.baseline_median_ms is not None
        return lat.ratio, lat.median_ms, lat.iqr_ms, lat.baseline_median_ms

    return time_one, time_one


def read_plan(folder: Path) -> Plan:
    try:
        data = json.loads((folder / PLAN_FILE).read_text())
    except OSError as e:
        raise ProfileError(f"{folder / PLAN_FILE}: cannot read ({e.strerror or e}); --onnx takes the "
                           "folder that runners.profile --export-onnx wrote") from None
    except json.JSONDecodeError as e:
        raise ProfileError(f"{folder / PLAN_FILE}: invalid JSON ({e})") from None
    try:
        return Plan.from_dict(data, folder / PLAN_FILE)
    except (KeyError, TypeError) as e:
        raise ProfileError(f"{folder / PLAN_FILE}: a missing or malformed field ({e})") from None


@dataclass
class Options:
    """What the command line asked for (see ``main``)."""

    out: Path | None
    space: str | None = None
    onnx: Path | None = None
    export_onnx: Path | None = None
    backend: str = "torch"
    device: str | None = None
    channels: int | None = None
    classes: int | None = None
    check: int = 10
    seed: int = 0
    repeats: int | None = None
    restart: bool = False
