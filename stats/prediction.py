"""How far predictions are from measurements (latency profiles against timings)."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any

from stats.rank import kendall_tau


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
