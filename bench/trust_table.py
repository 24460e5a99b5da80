"""The truth table behind ``bench/trust.py``: every architecture of
``bench/efficiency.yaml`` trained at the default proxy budget with several seeds.

    python -m bench.trust_table [--seeds 5] [--table bench/results/trust_table.json]

Resumable and cached per (architecture, seed, initialisation): rerun to continue.
Order of work, so that a partial table is already useful:
1. the paired-difference set: 8 architectures (no attention and 7 others) x all
   seeds, with the shared initialisation and without it (``torch.manual_seed(s)``
   then ``build_model(arch)``, as the search did before common random numbers);
2. every architecture with the shared initialisation, seed-major (all 64 at
   seed 0, then all at seed 1, ...).
Each row also gets ``latency_ratio`` (batch 1, 1 thread, timed alternating with
the plain backbone), measured once.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]

from models import build_model  # noqa: E402
from runners.catalog import model_catalog  # noqa: E402
from runners.data import load_proxy_data  # noqa: E402
from runners.measure import measure_latency  # noqa: E402
from runners.trainer import train_proxy  # noqa: E402
from search.sampling import enumerate_params, params_to_architecture  # noqa: E402
from spaces import LatencyConfig, load_space  # noqa: E402

SHAPE = {"in_channels": 1, "input_size": 28, "num_classes": 10}
SPACE = ROOT / "bench/efficiency.yaml"
# the paired-difference set: the plain backbone and 7 architectures spread over
# the space (one module in one stage, one module everywhere, mixtures)
PAIRED = ("none|none|none", "se(r=16)|none|none", "none|eca(k=auto)|none", "none|none|ca(r=32)",
          "se(r=16)|se(r=16)|se(r=16)", "eca(k=auto)|eca(k=auto)|eca(k=auto)",
          "ca(r=32)|ca(r=32)|ca(r=32)", "eca(k=auto)|se(r=16)|ca(r=32)")


def load_table(path: Path) -> dict[str, dict]:
    return json.loads(path.read_text()) if path.exists() else {}


def space_archs():
    space = load_space(SPACE, catalog=model_catalog())
    return space, [params_to_architecture(space, p, **SHAPE) for p in enumerate_params(space)]


def train_once(space, data, arch, seed: int, *, shared: bool) -> dict:
    if shared:
        model = build_model(arch, seed=seed)
    else:
        torch.manual_seed(seed)
        model = build_model(arch)
    budget = space.config.budget
    r = train_proxy(model, data, budget=budget, seed=seed)
    return {"accuracy": r.val_accuracy, "val_loss": r.val_loss, "train_seconds": r.train_seconds}


def merged(paths: list[Path]) -> dict[str, dict]:
    """One table from shard files: per architecture, the union of their seeds."""
    out: dict[str, dict] = {}
    for path in paths:
        for key, row in load_table(path).items():
            into = out.setdefault(key, {"arch": row["arch"], "shared": {}, "unshared": {}})
            for k in ("latency_ratio", "latency_ms", "baseline_ms"):
                if k in row and k not in into:
                    into[k] = row[k]
            for init in ("shared", "unshared"):
                into[init].update(row.get(init, {}))
    return out


def build(path: Path, seeds: int, shard: tuple[int, int] = (0, 1)) -> dict[str, dict]:
    """Train this shard's jobs (every n-th job of the list, from the i-th) that no file in
    ``path``'s folder named like it already holds; write to ``path``."""
    table = load_table(path)
    done = merged(sorted(path.parent.glob("trust_table*.json")))
    space, archs = space_archs()
    cfg = space.config
    data = load_proxy_data(**cfg.dataset.model_dump(), seed=cfg.search.seed)
    by_short = {a.short(): a for a in archs}
    plain = by_short["none|none|none"]
    jobs = [(by_short[s], seed, init) for s in PAIRED for seed in range(seeds)
            for init in ("shared", "unshared")
            if not (init == "unshared" and s == "none|none|none")]  # identical by construction
    jobs += [(a, seed, "shared") for seed in range(seeds) for a in archs]
    index, count = shard
    for i, (arch, seed, init) in enumerate(jobs):
        if i % count != index or str(seed) in done.get(arch.key(), {}).get(init, {}):
            continue
        row = table.setdefault(arch.key(), {"arch": arch.short(), "shared": {}, "unshared": {}})
        if "latency_ratio" not in row:
            torch.manual_seed(0)
            lat = measure_latency(build_model(arch, seed=0), (1, 1, 28, 28), threads=1,
                                  baseline=build_model(plain, seed=0),
                                  repeats=LatencyConfig().repeats)  # the schema's default
            row["latency_ratio"], row["latency_ms"] = lat.ratio, lat.median_ms
            row["baseline_ms"] = lat.baseline_median_ms
        if str(seed) in row[init]:
            continue
        t0 = time.perf_counter()
        row[init][str(seed)] = train_once(space, data, arch, seed, shared=init == "shared")
        path.write_text(json.dumps(table, indent=1))
        print(f"[{i + 1}/{len(jobs)}] {init:8s} seed {seed} {arch.short():36s} "
              f"acc {row[init][str(seed)]['accuracy']:.4f} ({time.perf_counter() - t0:.0f} s)",
              flush=True)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default=str(ROOT / "bench/results/trust_table.json"))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--shard", default="0/1",
                        help="I/N: this process trains every N-th job from the I-th (N processes, "
                             "tables named trust_table*.json; trust.py merges them)")
    # one thread count for the whole table: the same seed trained with 1 and with 2 threads
    # ends ~1 point apart (float summation order), which would break the pairing
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    index, count = (int(v) for v in args.shard.split("/"))
    build(Path(args.table), args.seeds, (index, count))


if __name__ == "__main__":
    main()
