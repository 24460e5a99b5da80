"""requirements.lock agrees with pyproject.toml: every dependency (extras included) is pinned,
with hashes, at a version its range allows. Edit one without ``make lock`` and this fails."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes)."""
    text = (ROOT / "requirements.lock").read_text()
    out = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if m:
            out[canonicalize_name(m[1])] = (m[2], block.count("--hash=sha256:"))
    return out


def test_every_dependency_is_locked_with_hashes_inside_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    wanted += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    pins = locked()
    assert len(pins) > 40  # the transitive closure, not only the direct dependencies
    assert all(n > 0 for _, n in pins.values()), "a pin without a hash: pip --require-hashes refuses it"
    problems = [f"{r}: locked {pins.get(canonicalize_name(r.name), ('nothing',))[0]}"
                for r in wanted
                if canonicalize_name(r.name) not in pins
                or not r.specifier.contains(pins[canonicalize_name(r.name)][0], prereleases=True)]
    assert problems == [], "requirements.lock is out of date; run make lock: " + "; ".join(problems)
    assert pins["torch"][0] == "2.14.1" and pins["torchvision"][0] == "0.29.1"
