"""Are the claims the search prints true? Scored on a truth table.

    python -m bench.trust [--table bench/results/trust_table.json] [--replays 20] [--trainings 30]
                          [--json bench/results/trust_replay.json]

The table (``bench/trust_table.py``) holds every architecture of
``bench/efficiency.yaml`` (64) trained at the default proxy budget with several
seeds, with the shared initialisation, plus 8 architectures without it.
Truth = the mean over all of an architecture's seeds.

1. Noise: the std over seeds of the paired difference acc(arch, s) - acc(none, s),
   with and without the shared initialisation, over the same seeds.
2. Discriminability: the spread (std) of the true means across the 64
   architectures over the single-seed std: how many noise widths the space spans.
3. Replays at equal compute (``--trainings`` trainings each), TPE with the
   references enqueued, as ``search.run`` does; a replay looks results up:
   (a) today's single-seed search: every training is a new architecture, the
       reported front is on single-seed accuracies, and every front point more
       accurate than no attention is an implicit "better" claim;
   (b) the new default: the search gets what confirmation leaves; the front and
       the reference are confirmed to 3 paired seeds; the front is on the
       confirmed means; "better" only when the paired 95% t-interval excludes 0.
   Scored against the true front (non-dominated on true mean accuracy and
   latency_ratio): precision and recall of the reported front, and the false
   discovery rate of "better than no attention" (false when the true mean
   difference is <= 0). Replay r uses seed r (mod the seeds in the table) for
   the search, as a search with ``search.seed: r`` would.

Both protocols replay the shared-initialisation table, so (a) already has the
lower noise of common random numbers: the comparison isolates confirmation.

4. The same replays with the validation loss as the search's score (issue 30's
   smoother score, read off the same trainings): ``(c)`` is (a) and ``(d)`` is (b)
   with every accuracy replaced by minus the validation loss, so the front, the
   "better" claims and the truth (the 5-seed mean loss) are all in loss. What it
   shows: how well a loss-scored search recovers its own truth, against how well
   the accuracy-scored one recovers its own, at the same trainings.

``--json`` writes the replays' figures as ``{protocol: {"precision", "recall", "fdr",
"fdr_held_out", "replays"}}``; the search's default protocol, (b), is under ``"default"``
(``fdr`` is null where a protocol made no claim).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]

from bench.trust_table import merged  # noqa: E402
from runners.catalog import model_catalog  # noqa: E402
from search.sampling import reference_trials, suggest_architecture  # noqa: E402
from search.study import make_sampler  # noqa: E402
from spaces import load_space  # noqa: E402
from stats import t_interval  # noqa: E402

SHAPE = {"in_channels": 1, "input_size": 28, "num_classes": 10}
PLAIN = "none|none|none"


def md(short: str) -> str:
    """An architecture for a markdown table cell."""
    return "`" + short.replace("|", "\\|") + "`"


def accs(row: dict, init: str = "shared") -> dict[int, float]:
    return {int(s): r["accuracy"] for s, r in row.get(init, {}).items()}


def by_loss(table: dict) -> dict:
    """The table with every training's accuracy replaced by minus its validation loss, so the
    replays (higher is better) score by the loss."""
    out = {}
    for key, row in table.items():
        out[key] = dict(row)
        for init in ("shared", "unshared"):
            out[key][init] = {s: {**r, "accuracy": -r["val_loss"]} for s, r in row.get(init, {}).items()}
    return out


def noise(table: dict) -> dict:
    """Std over seeds of paired differences to the plain backbone, shared vs unshared init."""
    by_short = {r["arch"]: r for r in table.values()}
    plain = accs(by_short[PLAIN])
    out = {"shared": [], "unshared": [], "rows": []}
    for short, row in by_short.items():
        un = accs(row, "unshared")
        if short == PLAIN or len(un) < 2:
            continue
        seeds = sorted(set(un) & set(accs(row)) & set(plain))
        if len(seeds) < 2:
            continue
        d_sh = [accs(row)[s] - plain[s] for s in seeds]
        d_un = [un[s] - plain[s] for s in seeds]
        out["shared"].append(statistics.stdev(d_sh))
        out["unshared"].append(statistics.stdev(d_un))
        out["rows"].append((short, len(seeds), statistics.stdev(d_sh), statistics.stdev(d_un),
                            statistics.stdev([accs(row)[s] for s in seeds]),
                            statistics.stdev([un[s] for s in seeds])))
    return out


def rms(values: list[float]) -> float:
    return (sum(v * v for v in values) / len(values)) ** 0.5 if values else float("nan")


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """(accuracy up, ratio down)."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def front_of(points: dict[str, tuple[float, float]]) -> set[str]:
    return {k for k, p in points.items() if not any(dominates(q, p) for q in points.values())}


def tpe_order(space, table: dict, seed: int, seed_index: int, n: int) -> list[str]:
    """The first ``n`` distinct architectures TPE (references first) evaluates, as search.run would,
    telling it the accuracy of seed ``seed_index``."""
    study = optuna.create_study(directions=space.directions,
                                sampler=make_sampler(space, name="tpe", seed=seed))
    for _, params in reference_trials(space)[0]:
        study.enqueue_trial(params)
    order: list[str] = []
    for _ in range(50 * n):
        trial = study.ask()
        key = suggest_architecture(trial, space, **SHAPE).key()
        row = table[key]
        study.tell(trial, [accs(row)[seed_index], row["latency_ratio"]])
        if key not in order:
            order.append(key)
        if len(order) >= n:
            break
    return order


def replay(space, table: dict, r: int, trainings: int, seeds: list[int]) -> dict:
    """One replay of each protocol at ``trainings`` trainings; claims and fronts."""
    k = len(seeds)
    s0 = seeds[r % k]
    order = tpe_order(space, table, seed=r, seed_index=s0, n=trainings)
    plain_key = next(key for key, row in table.items() if row["arch"] == PLAIN)
    # (a) single seed
    single = {key: (accs(table[key])[s0], table[key]["latency_ratio"]) for key in order}
    front_a = front_of(single)
    claims_a = [key for key in front_a if key != plain_key and plain_key in single
                and single[key][0] > single[plain_key][0]]
    # (b) search + confirmation to 3 paired seeds within the same trainings
    confirm = [seeds[(r + j) % k] for j in range(3)]
    n = trainings
    while n > 1:
        pts = {key: single[key] for key in order[:n]}
        cost = 2 * len(front_of(pts) | {plain_key})
        if n + cost <= trainings:
            break
        n -= 1
    pts = {key: single[key] for key in order[:n]}
    confirmed = front_of(pts) | {plain_key}
    means = {key: (statistics.fmean(accs(table[key])[s] for s in confirm), table[key]["latency_ratio"])
             for key in confirmed}
    front_b = front_of(means)
    claims_b = []
    for key in front_b - {plain_key}:
        diffs = [accs(table[key])[s] - accs(table[plain_key])[s] for s in confirm]
        iv = t_interval(diffs)
        if iv is not None and iv[0] > 0:
            claims_b.append(key)
    return {"a": (front_a, claims_a, len(order)), "b": (front_b, claims_b, n), "held_out": [
        x for x in seeds if x not in confirm]}


def repeat_rate(full: dict) -> None:
    """Do single-seed wins over the plain backbone repeat with the next seed?"""
    plain = next(row for row in full.values() if row["arch"] == PLAIN)
    print("## Single-seed wins over no attention, seed s, and whether they repeat at seed s+1\n")
    print("| seeds | architectures more accurate than no attention at s | of those, also at s+1 "
          "| repeat rate |")
    print("|---|---|---|---|")
    seeds = sorted(set.intersection(*(set(accs(r)) for r in full.values())))
    for s, t in zip(seeds, seeds[1:], strict=False):
        wins = [r for r in full.values() if r is not plain and accs(r)[s] > accs(plain)[s]]
        again = [r for r in wins if accs(r)[t] > accs(plain)[t]]
        rate = f"{len(again) / len(wins):.2f}" if wins else "—"
        print(f"| {s} -> {t} | {len(wins)} of 63 | {len(again)} | {rate} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default=str(ROOT / "bench/results/trust_table.json"))
    parser.add_argument("--replays", type=int, default=20)
    parser.add_argument("--json", default=str(ROOT / "bench/results/trust_replay.json"),
                        help="where the replays' figures go ('' for nowhere)")
    parser.add_argument("--trainings", type=int, default=30,
                        help="trainings per replay (equal compute for both protocols)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    first = Path(args.table)
    table = merged(sorted(first.parent.glob("trust_table*.json")) or [first])
    space = load_space(ROOT / "bench/efficiency.yaml", catalog=model_catalog())

    nz = noise(table)
    print("## Noise of the paired difference acc(arch, seed) - acc(none, seed)\n")
    print("| architecture | seeds | std diff, shared init | std diff, unshared "
          "| std acc, shared | std acc, unshared |")
    print("|---|---|---|---|---|---|")
    for short, n, dsh, dun, ash, aun in nz["rows"]:
        print(f"| {md(short)} | {n} | {100 * dsh:.2f} | {100 * dun:.2f} "
              f"| {100 * ash:.2f} | {100 * aun:.2f} |")
    print(f"| **root mean square** | | **{100 * rms(nz['shared']):.2f}** "
          f"| **{100 * rms(nz['unshared']):.2f}** | | |")
    print("(points of accuracy)\n")

    full = {key: row for key, row in table.items() if len(accs(row)) >= 1}
    counts = sorted({len(accs(r)) for r in full.values()})
    min_seeds = min(len(accs(r)) for r in full.values())
    print(f"## Truth table: {len(full)} architectures; seeds per architecture: "
          f"{', '.join(str(c) for c in counts)} (min {min_seeds})\n")
    if len(full) == 64 and min_seeds >= 2:
        repeat_rate(full)
    if len(full) < 64 or min_seeds < 3:
        print("not enough seeds in the table yet for the replays (need all 64 with >= 3); "
              "run bench/trust_table.py longer")
        return
    seeds = sorted(set.intersection(*(set(accs(r)) for r in full.values())))
    truth = {key: (statistics.fmean(accs(r).values()), r["latency_ratio"]) for key, r in full.items()}
    plain_key = next(key for key, row in full.items() if row["arch"] == PLAIN)
    single_sd = rms([statistics.stdev(accs(r).values()) for r in full.values()])
    spread = statistics.stdev(m for m, _ in truth.values())
    true_front = front_of(truth)
    better = {key for key in full if truth[key][0] > truth[plain_key][0]}
    print(f"- single-seed std (pooled over architectures): {100 * single_sd:.2f} points")
    lo, hi = min(m for m, _ in truth.values()), max(m for m, _ in truth.values())
    print(f"- spread of the true means across the 64 (std): {100 * spread:.2f} points "
          f"(range {100 * lo:.1f}-{100 * hi:.1f})")
    print(f"- discriminability = spread / single-seed std = **{spread / single_sd:.2f}**")
    print(f"- true front ({len(true_front)}): "
          + ", ".join(md(full[k]['arch']) for k in sorted(true_front, key=lambda k: truth[k][1])))
    print(f"- architectures whose true mean beats no attention: {len(better)} of 63; largest gap "
          f"{100 * max(truth[k][0] - truth[plain_key][0] for k in full):+.2f} points\n")

    figures = replay_table(space, full, seeds, args.replays, args.trainings, score="accuracy")
    loss_full = by_loss(full)
    figures.update(replay_table(space, loss_full, seeds, args.replays, args.trainings, score="loss"))
    held = sorted(set(seeds) - {seeds[j % len(seeds)] for j in range(3)})
    print(f"\n(held-out seeds: the table's seeds a replay's confirmation did not use, e.g. {held} "
          f"for replay 0)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
        print(f"wrote {args.json}")


PROTOCOLS = {  # per score: (name in the json, replay part, what the table's row says)
    "accuracy": (("single_seed", "a", "(a) single seed, front on single-seed accuracy"),
                 ("default", "b", "(b) search + confirmation (3 paired seeds, 95% t-interval)")),
    "loss": (("loss_single_seed", "a", "(c) as (a), scored by validation loss"),
             ("loss_confirmed", "b", "(d) as (b), scored by validation loss")),
}


def replay_table(space, full: dict, seeds: list[int], replays: int, trainings: int, *,
                 score: str) -> dict[str, dict]:
    """``replays`` replays of each protocol on ``full`` (higher ``accuracy`` is better), scored
    against the table's own truth; prints the table and returns the json figures."""
    truth = {key: (statistics.fmean(accs(r).values()), r["latency_ratio"]) for key, r in full.items()}
    plain_key = next(key for key, row in full.items() if row["arch"] == PLAIN)
    true_front = front_of(truth)
    single_sd = rms([statistics.stdev(accs(r).values()) for r in full.values()])
    spread = statistics.stdev(m for m, _ in truth.values())
    print(f"### Scored by {score}: discriminability {spread / single_sd:.2f}; true front "
          f"({len(true_front)}): " + ", ".join(
              md(full[k]["arch"]) for k in sorted(true_front, key=lambda k: truth[k][1])) + "\n")
    rows = {"a": [], "b": []}
    for r in range(replays):
        out = replay(space, full, r, trainings, seeds)
        for p in ("a", "b"):
            front, claims, searched = out[p]
            hit = front & true_front
            false = [k for k in claims if truth[k][0] - truth[plain_key][0] <= 0]
            # the truth above includes the seeds a replay trained with (s0 for (a), the three
            # confirmation seeds for (b)); judged on the other seeds alone, a claim cannot be
            # true merely because the replay saw those same trainings
            held = out["held_out"]
            false_held = [k for k in claims if held and statistics.fmean(
                accs(full[k])[x] - accs(full[plain_key])[x] for x in held) <= 0]
            rows[p].append((len(hit) / len(front), len(hit) / len(true_front), len(claims), len(false),
                            searched, len(false_held)))
    print(f"## Replays: {replays} per protocol, {trainings} trainings each "
          "(TPE + references)\n")
    print("| protocol | architectures searched | front precision | front recall "
          "| 'better' claims | false | FDR | false on held-out seeds | FDR, held out |")
    print("|---|---|---|---|---|---|---|---|---|")
    figures = {}
    for name, p, label in PROTOCOLS[score]:
        prec = statistics.fmean(x[0] for x in rows[p])
        rec = statistics.fmean(x[1] for x in rows[p])
        claims = sum(x[2] for x in rows[p])
        false = sum(x[3] for x in rows[p])
        searched = statistics.median(x[4] for x in rows[p])
        false_held = sum(x[5] for x in rows[p])
        fdr = f"{false / claims:.2f}" if claims else "— (no claim)"
        fdr_held = f"{false_held / claims:.2f}" if claims else "—"
        print(f"| {label} | {searched:.0f} | {prec:.2f} | {rec:.2f} | {claims} | {false} | {fdr} "
              f"| {false_held} | {fdr_held} |")
        figures[name] = {"precision": prec, "recall": rec,
                         "fdr": false / claims if claims else None,
                         "fdr_held_out": false_held / claims if claims else None,
                         "replays": replays, "trainings": trainings, "claims": claims,
                         "score": score}
    print()
    return figures


if __name__ == "__main__":
    main()
