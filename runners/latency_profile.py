"""Latency profiles, the torch-free part: the file format, the prediction, timing a plan
with resume and calibration, and ONNX Runtime timing of an exported plan.

A profile holds, for a backbone and input, the plain backbone's latency on one device and,
for every stage, the ratio of each choice alone in an otherwise plain backbone to it. The
prediction for an architecture is

    latency = plain_ms x (1 + scale x sum over stages of (ratio of that stage's choice - 1))

where ``scale`` (1 unless calibrated) is fitted on whole architectures timed on the device
(``calibrate``). The command is ``runners.profile``; building, timing in PyTorch and exporting
to ONNX are ``runners.profile_models``. Nothing here imports torch or Optuna: a target device
may have only ONNX Runtime and NumPy.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runners.timing import time_calls

FORMAT = "attnas-latency-profile"
VERSION = 1
PLAN_FILE = "plan.json"  # what --export-onnx writes beside the ONNX files
BACKENDS = ("torch", "onnxruntime")
PLAIN = {"attention": "none", "hparams": {}, "position": "pre_add", "blocks": "all",
         "conv": "standard", "conv_hparams": {}}


class ProfileError(ValueError):
    """A profile that cannot be read, made or used; the message names the file and what is allowed."""


def choice_key(stage: str, choice: Mapping[str, Any]) -> str:
    """The one spelling of "this choice in this stage": ``stage2/{...canonical JSON...}``."""
    return f"{stage}/{json.dumps(dict(choice), sort_keys=True)}"


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b of two equally long sequences (pure Python: the device may lack SciPy)."""
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    n0 = concordant + discordant
    denom = math.sqrt((n0 + ties_x) * (n0 + ties_y))
    return (concordant - discordant) / denom if denom else float("nan")


def prediction_errors(pairs: Iterable[tuple[float, float]]) -> dict[str, float]:
    """Median and largest absolute percentage error and Kendall tau of (predicted, measured)."""
    pairs = list(pairs)
    ape = [abs(p - m) / m * 100 for p, m in pairs]
    return {"architectures": len(pairs),
            "median_ape_pct": statistics.median(ape) if ape else float("nan"),
            "max_ape_pct": max(ape, default=float("nan")),
            "kendall_tau": kendall_tau([p for p, _ in pairs], [m for _, m in pairs])
            if len(pairs) >= 3 else float("nan")}


def check_text(check: Mapping[str, Any] | None) -> str:
    """How good a profile's prediction was on its device (``Profile.check``), in words."""
    c = check or {}
    if not c.get("architectures"):
        return "not checked on whole architectures (made with --check 0)"
    how = " (leave-one-out, after calibration)" if c.get("calibrated") else ""
    return (f"checked on {c['architectures']} random architectures there{how}: median error "
            f"{c['median_ape_pct']:.1f}%, largest {c['max_ape_pct']:.1f}%, Kendall tau "
            f"{c['kendall_tau']:.2f}")


@dataclass(frozen=True)
class Profile:
    """A finished latency profile, read from its file.

    Attributes:
        target: what it was made for (``made_for`` in the file): backbone, input
            channels and timed size, classes, batch, threads, backend, device.
        device: the machine that timed it, in words.
        plain_ms: the plain backbone's median ms there.
        increments: ``choice_key`` -> ratio - 1 of that choice alone.
        stages: the backbone's stage names, in order.
        check: the prediction's error on whole architectures, timed on the device
            (leave-one-out when calibrated: each one predicted with a scale fitted
            on the others).
        scale: the calibration: the sum of increments is multiplied by it, fitted
            by least squares on the check's architectures (1 when not calibrated).
        sha256: of the file's bytes (what a study records).
    """

    path: Path
    sha256: str
    target: Mapping[str, Any]
    device: str
    plain_ms: float
    stages: tuple[str, ...]
    increments: Mapping[str, float]
    check: Mapping[str, Any] | None = None
    scale: float = 1.0

    def predict_ratio(self, stages: Sequence[Mapping[str, Any]]) -> float:
        """Latency of an architecture (its ``to_dict()["stages"]``) over the plain backbone's."""
        return 1.0 + self.scale * self.increment_sum(stages)

    def increment_sum(self, stages: Sequence[Mapping[str, Any]]) -> float:
        """The sum of the stages' measured increments, uncalibrated."""
        if len(stages) != len(self.stages):
            raise ProfileError(f"{self.path}: made for {len(self.stages)} stages, "
                               f"the architecture has {len(stages)}")
        total = 0.0
        for name, choice in zip(self.stages, stages, strict=True):
            if dict(choice) == PLAIN:
                continue
            key = choice_key(name, choice)
            if key not in self.increments:
                raise ProfileError(f"{self.path}: no measurement for {name} = {dict(choice)}; "
                                   "make the profile again with this space (runners.profile)")
            total += self.increments[key]
        return total

    def predict_ms(self, stages: Sequence[Mapping[str, Any]]) -> float:
        return self.plain_ms * self.predict_ratio(stages)

    def mismatches(self, target: Mapping[str, Any]) -> list[str]:
        """What differs between what this profile was made for and ``target``: ``key: a != b``."""
        return [f"{k}: the profile has {self.target.get(k)!r}, the search needs {v!r}"
                for k, v in target.items() if self.target.get(k) != v]

    def missing(self, keys: Iterable[str]) -> list[str]:
        """The choice keys that this profile has no measurement for."""
        return [k for k in keys if k not in self.increments]

    def check_text(self) -> str:
        return check_text(self.check)

    def summary(self) -> dict[str, Any]:
        """What a study records about where its latencies came from."""
        return {"path": str(self.path), "sha256": self.sha256, "device": self.device,
                "made_for": dict(self.target), "plain_ms": self.plain_ms, "scale": self.scale,
                "check": None if self.check is None else
                {k: v for k, v in self.check.items() if k != "items"}}


def load_profile(path: str | Path) -> Profile:
    """Read a finished profile.

    Raises:
        ProfileError: a missing or unreadable file, another format or version, or a
            profile whose measurements are not finished (name the command that resumes it).
    """
    path = Path(path).expanduser()
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ProfileError(f"{path}: cannot read the latency profile ({e.strerror or e}); make one "
                           "on the target device with: python -m runners.profile --space SPACE "
                           f"--out {path.name}") from None
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ProfileError(f"{path}: not a latency profile (invalid JSON: {e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ProfileError(f"{path}: not a latency profile (format must be {FORMAT!r})")
    if data.get("version") != VERSION:
        raise ProfileError(f"{path}: profile version {data.get('version')!r}; this attnas reads "
                           f"version {VERSION}")
    if data.get("pending"):
        raise ProfileError(f"{path}: unfinished, {data['pending']} measurements to go; run the "
                           f"same runners.profile command again on {data.get('device')} to resume")
    try:
        return Profile(path, hashlib.sha256(raw).hexdigest(), data["made_for"], data["device"],
                       float(data["plain"]["median_ms"]), tuple(data["stages"]),
                       {e["key"]: float(e["ratio"]) - 1.0 for e in data["entries"]}, data.get("check"),
                       float((data.get("calibration") or {}).get("scale", 1.0)))
    except (KeyError, TypeError, ValueError) as e:
        raise ProfileError(f"{path}: a latency profile with a missing or malformed field ({e})") from None


# ---- making a profile -----------------------------------------------------------------


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
        profile = _from_data(out, data)
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


def _from_data(out: Path, data: Mapping[str, Any]) -> Profile:
    return Profile(out, "", data["made_for"], data["device"], float(data["plain"]["median_ms"]),
                   tuple(data["stages"]), {e["key"]: float(e["ratio"]) - 1.0 for e in data["entries"]})


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
