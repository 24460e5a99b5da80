"""bench.trust: the loss-scored replays and the figures it writes (issue 30's trust_replay.json)."""

from __future__ import annotations

from bench.trust import ROOT, accs, by_loss, replay_table
from bench.trust_table import merged
from runners.catalog import model_catalog
from spaces import load_space

TABLE = ROOT / "bench/results/trust_table.json"  # committed: 64 architectures x 5 seeds


def test_by_loss_scores_minus_the_validation_loss_and_leaves_the_table_alone():
    table = {"k": {"arch": "none|none|none", "latency_ratio": 1.0,
                   "shared": {"0": {"accuracy": 0.7, "val_loss": 0.6},
                              "1": {"accuracy": 0.8, "val_loss": 0.9}},
                   "unshared": {"0": {"accuracy": 0.5, "val_loss": 1.2}}}}
    scored = by_loss(table)
    assert accs(scored["k"]) == {0: -0.6, 1: -0.9}  # the lower loss scores higher
    assert accs(scored["k"], "unshared") == {0: -1.2}
    assert accs(table["k"]) == {0: 0.7, 1: 0.8}
    assert scored["k"]["latency_ratio"] == 1.0


def test_replay_figures_have_the_issue_layout(capsys):
    table = merged([TABLE])
    space = load_space(ROOT / "bench/efficiency.yaml", catalog=model_catalog())
    seeds = sorted(set.intersection(*(set(accs(r)) for r in table.values())))
    figures = replay_table(space, table, seeds, 2, 30, score="accuracy")
    figures.update(replay_table(space, by_loss(table), seeds, 2, 30, score="loss"))
    assert set(figures) == {"single_seed", "default", "loss_single_seed", "loss_confirmed"}
    for name, f in figures.items():
        assert set(f) >= {"precision", "recall", "fdr", "fdr_held_out", "replays"}
        assert 0 <= f["precision"] <= 1 and 0 <= f["recall"] <= 1, name
        assert f["replays"] == 2
        assert (f["fdr"] is None) == (f["claims"] == 0)
    # the single-seed search claims "better" from one seed; confirmation claims fewer
    assert figures["default"]["claims"] <= figures["single_seed"]["claims"]
    assert "scored by validation loss" in capsys.readouterr().out
