"""--epochs and --train-subset shrink a bundled space without copying it (issue 31): recorded in
the study as the file's own values are, compared on resume, validated like them."""

from __future__ import annotations

import optuna

from search.run import main
from studies import StudyRecord


def test_flags_replace_the_files_values_and_resume_compares_them(tiny_space, fashion_dir, tmp_path,
                                                                 monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    space = tiny_space("shrunk", n_trials=1)
    assert main(["--space", str(space), "--quiet", "--epochs", "0.5", "--train-subset", "300"]) == 0
    study = optuna.load_study(study_name="shrunk", storage=f"sqlite:///{tmp_path / 'runs/shrunk/study.db'}")
    stored = StudyRecord.of(study).space
    assert stored["budget"]["epochs"] == 0.5 and stored["dataset"]["train_subset"] == 300
    assert main(["--space", str(space), "--quiet", "--n-trials", "2", "--epochs", "0.5",
                 "--train-subset", "300"]) == 0  # the same flags: the same study goes on
    capsys.readouterr()
    assert main(["--space", str(space), "--quiet", "--n-trials", "3", "--train-subset", "300"]) == 2
    assert "now says something else" in capsys.readouterr().err  # the file's epochs: 1 again


def test_an_impossible_flag_value_is_named_with_its_flag(tiny_space, fashion_dir, tmp_path,
                                                         monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["--space", str(tiny_space("bad")), "--quiet", "--train-subset", "3"]) == 2
    err = capsys.readouterr().err
    assert "dataset.train_subset" in err and "from the command line: dataset.train_subset = 3" in err
    assert not (tmp_path / "runs" / "bad" / "study.db").exists()


def test_epochs_on_a_multi_fidelity_space_is_refused(tiny_space, fashion_dir, tmp_path, monkeypatch,
                                                     capsys) -> None:
    monkeypatch.chdir(tmp_path)
    space = tiny_space("mf", extra="fidelity: {eta: 3, rungs: [{epochs: 0.5}, {epochs: 1}]}\n")
    assert main(["--space", str(space), "--quiet", "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert "is a multi-fidelity space" in err and "fidelity.rungs" in err
