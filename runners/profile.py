"""Latency profiles: time a space's choices once on the device you deploy to, then let a
search anywhere predict each candidate's latency there (the lookup tables of FBNet and
ProxylessNAS, for attention placement).

``python -m runners.profile --space attention.yaml --out my-device.json`` runs on the
target device. It times the plain backbone and, for every stage, every choice the space
allows there (module, hyper-parameters, placement, convolution) in a backbone that is
otherwise plain, each interleaved with the plain backbone (batch, threads and input size
from the space's ``latency`` block), and keeps the ratio. A search with
``latency: {backend: profile, profile: my-device.json}`` then predicts

    latency = plain_ms x (1 + sum over stages of (ratio of that stage's choice - 1))

instead of timing. After the table, ``--check N`` random architectures of the space are
timed whole and compared with that prediction, so the file carries how good the
prediction is on that device (median and largest error, Kendall tau).

The file is written after every measurement and the same command resumes it. The device
needs torch (``--backend torch``, the default), or, for ``--backend onnxruntime``, a
machine with torch exports the models first (``--export-onnx DIR``) and the device, with
only ONNX Runtime and NumPy, times them (``--onnx DIR``). This module imports neither
torch nor Optuna at the top: the file format and the prediction are
``runners.latency_profile``, timing a plan ``runners.profile_plan``, the building and
exporting ``runners.profile_models``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from errors import UserError
from runners.latency_profile import Profile
from runners.profile_plan import (
    BACKENDS,
    Options,
    onnxruntime_device,
    onnxruntime_timers,
    read_plan,
    run_plan,
)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    p = argparse.ArgumentParser(
        prog="python -m runners.profile",
        description="Time a space's choices on this device once, for searches elsewhere "
                    "(latency: {backend: profile, profile: FILE}).")
    p.add_argument("--space", help="the space file (as for search.run)")
    p.add_argument("--out", type=Path, help="the profile to write (resumed when it exists)")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="torch (default: the space's latency.backend) or onnxruntime")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None,
                   help="torch's device (default: the space's latency.device)")
    p.add_argument("--check", type=int, default=10,
                   help="whole random architectures to time against the prediction (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the check's architectures")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed blocks per measurement (default: the space's latency.repeats); "
                        "more makes each increment steadier, at proportional cost")
    p.add_argument("--channels", type=int, choices=(1, 3),
                   help="image channels, when the space's folder dataset is not on this machine")
    p.add_argument("--classes", type=int,
                   help="classes, when the space's folder dataset is not on this machine")
    p.add_argument("--export-onnx", type=Path, metavar="DIR",
                   help="write the models and the plan to DIR for a device with only ONNX Runtime")
    p.add_argument("--onnx", type=Path, metavar="DIR",
                   help="time a plan that --export-onnx wrote (needs only onnxruntime and numpy)")
    p.add_argument("--restart", action="store_true", help="replace --out instead of resuming it")
    a = p.parse_args(argv)
    if a.onnx is None and a.space is None:
        p.error("--space is required (or --onnx DIR, a plan that --export-onnx wrote)")
    if a.onnx is not None and a.space is not None:
        p.error("--onnx DIR times an exported plan: its space is in the plan; drop --space")
    if a.export_onnx is None and a.out is None:
        p.error("--out FILE is required (or --export-onnx DIR)")
    if a.repeats is not None and a.repeats < 4:
        p.error(f"--repeats must be >= 4 (quartiles need them), got {a.repeats}")
    if a.check < 0:
        p.error(f"--check must be >= 0, got {a.check}")
    if a.classes is not None and a.classes < 2:
        p.error(f"--classes must be >= 2, got {a.classes}")
    return Options(a.out, a.space, a.onnx, a.export_onnx, a.backend or "", a.device, a.channels,
                   a.classes, a.check, a.seed, a.repeats,
                   a.restart)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    try:
        if opts.onnx is not None:  # the device: ONNX Runtime only, no torch
            plan = read_plan(opts.onnx)
            threads = int(plan.target["threads"])
            repeats = opts.repeats or int(plan.space["repeats"])  # the plan records the space's
            plain, timer = onnxruntime_timers(opts.onnx, plan, threads=threads, repeats=repeats)
            assert opts.out is not None
            profile = run_plan(plan, opts.out, device=onnxruntime_device(threads),
                               backend="onnxruntime", repeats=repeats, plain=plain, timer=timer,
                               restart=opts.restart)
        else:
            from runners.profile_models import profile_space  # torch, models, spaces

            profile = profile_space(opts)
            if profile is None:  # --export-onnx: nothing timed here
                return 0
    except UserError as e:  # a profile, space, device or dataset that cannot be used
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        where = opts.out or opts.export_onnx
        print(f"\ninterrupted: what was measured is saved in {where}; run the same command "
              "to resume", file=sys.stderr)
        return 130
    print(describe(profile))
    return 0


def describe(profile: Profile) -> str:
    """A few lines for the user: where, what, and how good the prediction was there."""
    lines = [f"wrote {profile.path} (sha256 {profile.sha256[:12]}): {len(profile.increments)} "
             f"choices timed on {profile.device}; plain backbone {profile.plain_ms:.3f} ms"]
    lines.append(f"predicted latency {profile.check_text()}")
    lines.append(f"use it: latency: {{backend: profile, profile: {profile.path}}}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
