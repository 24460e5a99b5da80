"""How still the latency objective holds inside one recorded study.

    python -m bench.study_latency --study attention-placement [--storage URL]

Every trial times the plain backbone beside its candidate. Over the study:
the spread of those plain-backbone timings in ms (what ``latency_ms`` of the
same network would have read from trial to trial), against the spread of the
plain backbone's ratio to itself (the no-attention reference trial, and the
candidates that build the plain network). Machines drift; ratios should not.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from studies import latency_scale_ms, load_existing_study, records  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--study", required=True)
    parser.add_argument("--storage", default=None)
    args = parser.parse_args()
    study = load_existing_study(args.study, args.storage)
    trials = [r for r in records(study)
              if not r.is_duplicate and (r.latency or {}).get("baseline_median_ms") is not None]
    base = [r.latency["baseline_median_ms"] for r in trials]  # type: ignore[index]
    ratio = [r.latency_ratio for r in trials]
    plain = [r for r in trials if r.is_reference]
    print(f"study {args.study}: {len(trials)} trials timed the plain backbone beside their candidate")
    print(f"- plain backbone in ms across trials: min {min(base):.3f}, median {statistics.median(base):.3f}, "
          f"max {max(base):.3f} (max/min {max(base) / min(base):.3f}; CV "
          f"{statistics.stdev(base) / statistics.mean(base):.1%})")
    for t in plain:
        print(f"- the no-attention reference (trial {t.number}), the plain backbone timed against itself: "
              f"ratio {t.latency_ratio:.4f}; its own ms {t.latency_ms:.3f}")
    print(f"- candidates' ratios span {min(ratio):.3f}-{max(ratio):.3f}; the study's scale "
          f"{latency_scale_ms(study):.3f} ms")


if __name__ == "__main__":
    main()
