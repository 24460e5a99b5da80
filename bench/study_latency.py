"""How still the latency objective holds inside one recorded study.

    python bench/study_latency.py --study attention-placement [--storage URL]

Every trial times the plain backbone beside its candidate. Over the study:
the spread of those plain-backbone timings in ms (what ``latency_ms`` of the
same network would have read from trial to trial), against the spread of the
plain backbone's ratio to itself (the no-attention reference trial, and the
candidates that build the plain network). Machines drift; ratios should not.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reports.claims import latency_scale_ms  # noqa: E402
from reports.studies import load_existing_study  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--study", required=True)
    parser.add_argument("--storage", default=None)
    args = parser.parse_args()
    study = load_existing_study(args.study, args.storage)
    trials = [t for t in study.get_trials(deepcopy=False)
              if t.user_attrs.get("duplicate_of") is None and (t.user_attrs.get("latency") or {}).get(
                  "baseline_median_ms") is not None]
    base = [t.user_attrs["latency"]["baseline_median_ms"] for t in trials]
    ratio = [t.user_attrs["latency_ratio"] for t in trials]
    plain = [t for t in trials if t.user_attrs.get("reference") == "no attention"]
    print(f"study {args.study}: {len(trials)} trials timed the plain backbone beside their candidate")
    print(f"- plain backbone in ms across trials: min {min(base):.3f}, median {statistics.median(base):.3f}, "
          f"max {max(base):.3f} (max/min {max(base) / min(base):.3f}; CV "
          f"{statistics.stdev(base) / statistics.mean(base):.1%})")
    for t in plain:
        ua = t.user_attrs
        print(f"- the no-attention reference (trial {t.number}), the plain backbone timed against itself: "
              f"ratio {ua['latency_ratio']:.4f}; its own ms {ua['latency_ms']:.3f}")
    print(f"- candidates' ratios span {min(ratio):.3f}-{max(ratio):.3f}; the study's scale "
          f"{latency_scale_ms(study):.3f} ms")


if __name__ == "__main__":
    main()
