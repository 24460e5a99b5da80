"""From front to model: export, rebuild, ONNX, full training, fidelity (issue 8)."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml
from scipy.stats import kendalltau

from models import build_model, load_architecture, model_signature
from reports.dashboard import render_dashboard
from search.export import main as export_main
from search.fidelity import run_fidelity
from search.run import main as run_main
from studies import FidelityRecord, StudyRecord, TrialRecord, knee, records, study_claims, study_directions
from tests.helpers import TINY_SPACE, make_fashion_like


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory) -> Path:
    """One search for the whole module (its tests read the study; none changes what another reads)."""
    from runners import data

    root = tmp_path_factory.mktemp("front")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTNAS_DATA", str(make_fashion_like(root / "fmnist")))
        data.clear_cache()
        mp.chdir(root)
        space = root / "front.yaml"
        space.write_text(TINY_SPACE.format(name="front", n_trials=4, extra="", confirm="{seeds: 3}"))
        assert run_main(["--space", str(space), "--quiet"]) == 0
        yield root
    data.clear_cache()


def _study(root: Path) -> optuna.Study:
    return optuna.load_study(study_name="front", storage=f"sqlite:///{root / 'runs/front/study.db'}")


@pytest.mark.parametrize("pick", ["knee", "max-accuracy", "fastest", "trial=0"])
def test_export_rebuilds_the_trials_network(study_dir: Path, pick: str) -> None:
    out = study_dir / f"{pick.replace('=', '')}.yaml"
    assert export_main(["--study", "front", "--pick", pick, "--out", str(out)]) == 0
    doc = yaml.safe_load(out.read_text())
    trial = _study(study_dir).trials[doc["source"]["trial"]]
    model = build_model(load_architecture(out))
    assert model_signature(model) == TrialRecord.of(trial).signature  # same keys and shapes
    assert sum(p.numel() for p in model.parameters()) == TrialRecord.of(trial).params
    assert doc["metrics"]["latency"]["threads"] == 1 and doc["metrics"]["latency"]["device"] == "cpu"
    assert doc["architecture"]["input"] == {"channels": 1, "size": 28}


def test_pick_matching_nothing_exits_2_with_the_range(study_dir: Path, capsys) -> None:
    assert export_main(["--study", "front", "--pick", "latency<=0.00001"]) == 2
    assert "the front spans" in capsys.readouterr().err


def test_onnx_export_matches_pytorch(study_dir: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    onnx_path = study_dir / "best.onnx"
    assert export_main(["--study", "front", "--out", str(study_dir / "b.yaml"),
                        "--onnx", str(onnx_path)]) == 0
    assert onnx_path.stat().st_size > 1000


def test_fidelity_is_stored_and_shown(study_dir: Path) -> None:
    study = _study(study_dir)
    result = run_fidelity(study, top=3, epochs=1, seeds=2, log=lambda _: None)
    rows = result.rows
    # the knee of the presented front first, then the rest of the front, then the references
    claims = study_claims(study)
    assert rows[0].trial == knee(claims.front, study_directions(study)).number
    by_number = {r.number: r for r in records(study)}
    assert all(r.proxy_accuracy == by_number[r.trial].accuracy for r in rows)
    assert {r.trial for r in rows} >= {r.number for r in by_number.values()
                                       if r.reference is not None and r.is_original}
    proxy, long = [r.proxy_accuracy for r in rows], [r.long_accuracy for r in rows]
    expected = kendalltau(proxy, long).statistic if len(set(proxy)) > 1 and len(set(long)) > 1 \
        else float("nan")
    assert result.kendall_tau == pytest.approx(expected, nan_ok=True)
    assert len(result.spread_accuracies) == 2
    assert result.train_images == 450 and result.val_images == 150  # test set unused
    stored = StudyRecord.of(_study(study_dir)).fidelity_record
    assert stored is not None and stored.rows == result.rows
    again = FidelityRecord.of(result.to_dict())  # as stored and read back (tau may be NaN: by field)
    assert (again.rows, again.spread_accuracies, again.epochs) == (result.rows, result.spread_accuracies,
                                                                   result.epochs)
    assert 'id="fidelity"' in render_dashboard(_study(study_dir))


def test_export_without_out_writes_beside_best_yaml_and_never_over_it(study_dir: Path, monkeypatch) -> None:
    monkeypatch.chdir(study_dir)
    best = study_dir / "runs" / "front" / "best.yaml"
    before = best.read_bytes()
    assert export_main(["--study", "front", "--pick", "trial=0"]) == 0
    assert export_main(["--study", "front", "--pick", "latency<=1000"]) == 0
    assert best.read_bytes() == before  # the search's own choice is untouched
    assert yaml.safe_load((best.parent / "export-trial-0.yaml").read_text())["source"]["trial"] == 0
    assert (best.parent / "export-latency-le-1000.yaml").exists()
