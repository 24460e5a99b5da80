from __future__ import annotations

from pathlib import Path

import pytest
import torch

from runners.data import DatasetNotFound, idx, load_fashion_mnist, load_proxy_data, stratified_split
from tests.helpers import make_fashion_like


@pytest.mark.parametrize("compress", [True, False])
def test_reads_idx_files_plain_and_gzipped(tmp_path: Path, compress: bool) -> None:
    folder = make_fashion_like(tmp_path / "d", n_train=50, compress=compress)
    x, y, source = load_fashion_mnist(root=str(folder), download=False)
    assert x.shape == (50, 1, 28, 28) and x.dtype == torch.uint8
    assert y.dtype == torch.int64 and set(y.tolist()) == set(range(10))
    assert source == str(folder)


def test_lookup_order_prefers_space_root_over_env(tmp_path: Path, monkeypatch) -> None:
    a = make_fashion_like(tmp_path / "a", n_train=30)
    b = make_fashion_like(tmp_path / "b", n_train=40)
    monkeypatch.setenv("ATTNAS_DATA", str(b))
    assert load_fashion_mnist(root=str(a), download=False)[0].shape[0] == 30
    assert load_fashion_mnist(root=None, download=False)[0].shape[0] == 40


def test_missing_data_names_every_way_to_provide_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ATTNAS_DATA", str(tmp_path / "empty"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(idx, "DEBIAN_DIR", tmp_path / "no-debian")
    with pytest.raises(DatasetNotFound) as err:
        load_fashion_mnist(download=False)
    msg = str(err.value)
    for way in ("apt-get install dataset-fashion-mnist", "./data", "ATTNAS_DATA", "dataset.root",
                "download"):
        assert way in msg


def test_stratified_split_is_seeded_and_keeps_class_balance() -> None:
    labels = torch.arange(1000) % 10
    keep, held = stratified_split(labels, 0.2, seed=1)
    assert len(held) == 200 and len(set(keep.tolist()) & set(held.tolist())) == 0
    assert torch.bincount(labels[held]).tolist() == [20] * 10
    assert torch.equal(held, stratified_split(labels, 0.2, seed=1)[1])
    assert not torch.equal(held, stratified_split(labels, 0.2, seed=2)[1])


def test_proxy_data_carves_validation_from_training_files(fashion_dir: Path) -> None:
    d = load_proxy_data(name="fashion-mnist", train_subset=400, val_fraction=0.25, seed=0, download=False)
    assert len(d.train_x) == 300 and len(d.val_x) == 100
    assert d.num_classes == 10 and d.in_channels == 1 and d.input_size == 28
    assert 0.0 < d.mean[0] < 1.0 and d.std[0] > 0
