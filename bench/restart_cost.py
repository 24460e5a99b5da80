"""What restarting a promoted trial from scratch costs, read from the recorded multi-fidelity runs.

    python -m bench.restart_cost [--json PATH]

A trial promoted to rung k trains again from its initialisation at rung k's budget
(``search.rungs``). Resuming from rung k-1's weights could save at most rung k-1's training of
every promoted architecture: ``promotions to rung k x epochs_(k-1) x images_(k-1)`` image-passes
(per seed), against everything the search trained. This reads the per-rung counts of every
rung search in ``bench/results/multifidelity*.json`` (``bench/multifidelity.py``) and the rungs of
its proxy, and prints that upper bound as a share of the search's training, mean and range over
the search seeds. No training is run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from bench.multifidelity_setup import PROXIES  # noqa: E402


def restart_share(per_rung: list[int], costs: list[float]) -> float:
    """Image-passes a resume could save at most, as a share of the search's training."""
    total = sum(n * c for n, c in zip(per_rung, costs, strict=True))
    saved = sum(per_rung[k] * costs[k - 1] for k in range(1, len(per_rung)))
    return saved / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    rows = []
    for path in sorted((ROOT / "bench" / "results").glob("multifidelity*.json")):
        d = json.loads(path.read_text())
        if "runs" not in d:  # the training cache, or a rank table
            continue
        proxy = PROXIES[d["proxy"]]
        costs = [e * n for e, n in (*proxy.rungs, proxy.top)]
        for method in sorted({r["method"] for r in d.get("runs", []) if "rungs" in r["method"]}):
            shares = [restart_share(r["per_rung"], costs) for r in d["runs"] if r["method"] == method]
            rows.append({"file": path.name, "proxy": d["proxy"], "method": method,
                         "rungs": [f"{e:g} x {n}" for e, n in (*proxy.rungs, proxy.top)],
                         "eta": proxy.eta, "searches": len(shares),
                         "mean": sum(shares) / len(shares), "min": min(shares), "max": max(shares)})
    print("| runs | proxy: rungs (epochs x images), eta | method | searches | resume saves at most |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['file']} | {r['proxy']}: {', '.join(r['rungs'])}, eta {r['eta']} | {r['method']} "
              f"| {r['searches']} | {100 * r['mean']:.0f}% ({100 * r['min']:.0f}-{100 * r['max']:.0f}%) |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
