"""The fine-tuning path at a larger resolution (bench/finetune_folder.py), end to end on tiny
data: weights made here, a folder of PNG files, spaces/finetune.yaml's search, full training."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_smoke_run_searches_the_folder_from_the_weights_and_trains_the_winner(fashion_dir,
                                                                                  tmp_path) -> None:
    subprocess.run([sys.executable, "-m", "bench.finetune_folder", "--smoke", "--device", "cpu",
                    "--out-dir", str(tmp_path)], cwd=ROOT, check=True, timeout=600)
    result = json.loads((tmp_path / "finetune_folder.json").read_text())
    assert result["train_images"] == 200 and result["test_images"] > 0  # 40 per class in training
    assert result["best"]["summary"] and result["full_training"]["test_accuracy"] is not None
    best = (tmp_path / "run/best.yaml").read_text()
    assert str(tmp_path / "source.pt") in best  # searched from the weights made here
