"""bench.full_training: the committed target results are the committed weights' own runs."""

from __future__ import annotations

import json

import pytest
import torch

from bench.full_training import RESULTS, folder_name, levers


def test_folder_name_keeps_only_portable_characters():
    key = "resnet_cifar(depth=20,width=16)/1x28->10/none|se(r=16)[last]|none"
    assert folder_name(key) == "resnet_cifar_depth=20,width=16_1x28-_10_none_se_r=16_last_none"


def test_committed_target_accuracies_are_those_stored_with_the_weights():
    results = json.loads((RESULTS / "full_training.json").read_text())
    assert results
    for key, row in results.items():
        folder = RESULTS / "full_training" / folder_name(key)
        stored = [torch.load(folder / f"model-seed{seed}.pt", map_location="cpu",
                             weights_only=True)["run"] for seed in range(len(row["test_accuracy"]))]
        assert [r["test_accuracy"] for r in stored] == row["test_accuracy"]
        assert [r["train_seconds"] for r in stored] == row["train_seconds"]
        assert all(len(r["epoch_train_loss"]) == row["epochs"] for r in stored)


def test_a_lever_cache_of_other_epochs_is_refused_not_reused():
    cache = {"levers_settings": {"epochs": 30, "train": 54_000, "val": 6_000},
             "levers": {"default/0": {"default": 0.9}, "erase/0": {"erase": 0.9}}}
    with pytest.raises(SystemExit, match=r"'epochs': 30.*another --out-dir"):
        levers(cache, seeds=1, epochs=60, train=54_000, val=6_000, device="cpu", save=lambda: None)
    table = levers(cache, seeds=1, epochs=30, train=54_000, val=6_000, device="cpu", save=lambda: None)
    assert table == {"default": [0.9], "erase": [0.9]}
