"""Is latency repeatable enough to rank architectures? Two passes, interleaved.

    python -m bench.latency_repeatability [--space attention.yaml] [--device cpu|cuda] [--json PATH]

Twelve architectures of the space -- the reference baselines (no attention,
each module everywhere at paper defaults) and varied ones sampled with a fixed
seed -- are measured in pass 1, then all again in pass 2, in one process. For
each of three methods it reports the per-architecture coefficient of variation
between the passes (median over architectures) and Kendall's tau between the
two passes' rankings:

- ``naive``: what a hand-rolled loop does -- 20 calls, no warm-up, the mean;
- ``latency_ms``: ``runners.measure.measure_latency`` (warm-up, 21 timed
  blocks, median, re-measured when IQR/median > 10%);
- ``latency_ratio``: the same, timed in alternating blocks with the backbone
  without attention, as a ratio to it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import optuna
import torch

ROOT = Path(__file__).resolve().parents[1]

from models import build_model  # noqa: E402
from runners.catalog import model_catalog  # noqa: E402
from runners.measure import cpu_threads, measure_latency  # noqa: E402
from search.sampling import params_to_architecture, reference_trials, suggest_architecture  # noqa: E402
from spaces import load_space  # noqa: E402
from stats import kendall_tau  # noqa: E402

SHAPE = {"in_channels": 1, "input_size": 28, "num_classes": 10}


def naive_ms(model: torch.nn.Module, x: torch.Tensor, threads: int) -> float:
    with torch.inference_mode(), cpu_threads(threads):
        t0 = time.perf_counter()
        for _ in range(20):
            model(x)
        if x.is_cuda:  # what a careful hand-rolled loop does on CUDA: wait for the last call
            torch.cuda.synchronize(x.device)
        return (time.perf_counter() - t0) * 1e3 / 20


def architectures(space, n: int = 12):
    archs = [params_to_architecture(space, p, **SHAPE) for _, p in reference_trials(space)[0]]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=123))
    keys = {a.key() for a in archs}
    while len(archs) < n:
        a = suggest_architecture(study.ask(), space, **SHAPE)
        if a.key() not in keys:
            keys.add(a.key())
            archs.append(a)
    return archs[:n]


def cv(a: float, b: float) -> float:
    return statistics.stdev([a, b]) / statistics.mean([a, b])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--space", default="attention.yaml")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=None, help="also write the passes here")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = load_space(args.space, catalog=model_catalog())
    lat_cfg = space.config.latency
    device = torch.device(args.device)
    archs = architectures(space)
    torch.manual_seed(0)
    models = [build_model(a).to(device).eval() for a in archs]
    baseline = build_model(archs[0].without_attention()).to(device).eval()
    x = torch.randn(lat_cfg.batch_size, 1, 28, 28, device=device)
    shape = tuple(x.shape)
    passes: dict[str, list[list[float]]] = {"naive": [], "latency_ms": [], "latency_ratio": []}
    t0 = time.perf_counter()
    for _ in range(2):
        naive, ms, ratio = [], [], []
        for m in models:
            naive.append(naive_ms(m, x, lat_cfg.threads))
            lat = measure_latency(m, shape, threads=lat_cfg.threads, repeats=lat_cfg.repeats,
                                  baseline=baseline)
            ms.append(lat.median_ms)
            ratio.append(lat.ratio)
        passes["naive"].append(naive)
        passes["latency_ms"].append(ms)
        passes["latency_ratio"].append(ratio)
    secs = time.perf_counter() - t0
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(f"{len(archs)} architectures x 2 passes on {device}{gpu}, torch {torch.__version__} "
          f"({lat_cfg.threads} thread(s), batch {lat_cfg.batch_size}) in {secs:.0f} s")
    print("| method | median CV between passes | max CV | Kendall tau (pass 1 vs 2) |")
    print("|---|---|---|---|")
    summary = {}
    for name, (p1, p2) in passes.items():
        cvs = [cv(a, b) for a, b in zip(p1, p2, strict=True)]
        tau = kendall_tau(p1, p2)
        summary[name] = {"median_cv": statistics.median(cvs), "max_cv": max(cvs), "kendall_tau": tau}
        print(f"| {name} | {100 * statistics.median(cvs):.2f}% | {100 * max(cvs):.2f}% | {tau:.3f} |")
    print("\n| architecture | latency_ms pass 1 / 2 | latency_ratio pass 1 / 2 |")
    print("|---|---|---|")
    for i, a in enumerate(archs):
        print(f"| `{a.short()}` | {passes['latency_ms'][0][i]:.3f} / {passes['latency_ms'][1][i]:.3f} "
              f"| {passes['latency_ratio'][0][i]:.3f} / {passes['latency_ratio'][1][i]:.3f} |")

    if args.json:
        Path(args.json).write_text(json.dumps({
            "device": str(device), "gpu": gpu.strip(" ()") or None, "torch": torch.__version__,
            "cuda": torch.version.cuda, "threads": lat_cfg.threads, "batch_size": lat_cfg.batch_size,
            "summary": summary, "architectures": [a.short() for a in archs], "passes": passes},
            indent=1))


if __name__ == "__main__":
    main()
