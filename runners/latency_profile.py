"""Latency profiles, the torch-free part: the file format, the prediction, timing a plan
with resume and calibration, and ONNX Runtime timing of an exported plan.

A profile holds, for a backbone and input, the plain backbone's latency on one device and,
for every stage, the ratio of each choice alone in an otherwise plain backbone to it. The
prediction for an architecture is

    latency = plain_ms x (1 + scale x sum over stages of (ratio of that stage's choice - 1))

where ``scale`` (1 unless calibrated) is fitted on whole architectures timed on the device
(``calibrate``). Making one (timing a plan, resuming, calibrating, ONNX Runtime) is
``runners.profile_plan``; the command is ``runners.profile``; building, timing in PyTorch and
exporting to ONNX are ``runners.profile_models``. Nothing here imports torch or Optuna: a target device
may have only ONNX Runtime and NumPy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from errors import UserError
from stats import check_text

FORMAT = "attnas-latency-profile"
VERSION = 1
PLAIN = {"attention": "none", "hparams": {}, "position": "pre_add", "blocks": "all",
         "conv": "standard", "conv_hparams": {}}


class ProfileError(UserError, ValueError):
    """A profile that cannot be read, made or used; the message names the file and what is allowed."""


def choice_key(stage: str, choice: Mapping[str, Any]) -> str:
    """The one spelling of "this choice in this stage": ``stage2/{...canonical JSON...}``."""
    return f"{stage}/{json.dumps(dict(choice), sort_keys=True)}"


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

    @classmethod
    def from_data(cls, path: Path, data: Mapping[str, Any], sha256: str = "") -> Profile:
        """The profile a file's parsed ``data`` holds (``KeyError``, ``TypeError`` or
        ``ValueError`` for a missing or malformed field)."""
        return cls(path, sha256, data["made_for"], data["device"], float(data["plain"]["median_ms"]),
                   tuple(data["stages"]), {e["key"]: float(e["ratio"]) - 1.0 for e in data["entries"]},
                   data.get("check"), float((data.get("calibration") or {}).get("scale", 1.0)))

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
        return Profile.from_data(path, data, hashlib.sha256(raw).hexdigest())
    except (KeyError, TypeError, ValueError) as e:
        raise ProfileError(f"{path}: a latency profile with a missing or malformed field ({e})") from None
