"""Your own images: a folder in ImageFolder layout, searched end to end, cached, and every way
it can be wrong answered with one message (exit 2 through the CLI) and no cache left behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from PIL import Image

from runners.data import DatasetError, DatasetNotFound, clear_cache, load_proxy_data
from runners.data.idx import DEBIAN_DIR, read_idx
from search.run import main
from tests.helpers import TINY_SPACE, make_fashion_like


def _fashion_images(tmp_path: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Real Fashion-MNIST images where Debian's package is installed (CI installs it), else the
    learnable textures the other tests use."""
    src = DEBIAN_DIR if (DEBIAN_DIR / "train-images-idx3-ubyte.gz").exists() else make_fashion_like(tmp_path / "src")
    x = read_idx(src / "train-images-idx3-ubyte.gz")[:n].numpy()
    y = read_idx(src / "train-labels-idx1-ubyte.gz")[:n].numpy()
    return x, y


def _write_folder(root: Path, x: np.ndarray, y: np.ndarray) -> Path:
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        d = root / f"class_{int(label)}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(d / f"{i:05d}.png")
    return root


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ATTNAS_CACHE", str(tmp_path / "cache"))
    clear_cache()
    return tmp_path / "cache"


def _load(path: Path, **kw):
    clear_cache()  # the per-process cache would hide the file cache
    return load_proxy_data(name="folder", path=str(path), train_subset=None, val_fraction=0.25,
                           image_size=28, progress=False, **kw)


def test_a_folder_is_searched_end_to_end_and_its_cache_used_then_rebuilt(tmp_path, cache,
                                                                           monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = _write_folder(tmp_path / "imgs", *_fashion_images(tmp_path, 400))
    space = tmp_path / "mine.yaml"
    space.write_text(TINY_SPACE.format(name="mine", n_trials=2, extra="", confirm="false").replace(
        "dataset: {name: fashion-mnist, train_subset: 400, val_fraction: 0.25, download: false}",
        f"dataset: {{name: folder, path: {folder}, image_size: 28, val_fraction: 0.25}}"))
    log = tmp_path / "runs/mine/run.log"

    clear_cache()
    assert main(["--space", str(space), "--quiet"]) == 0
    first = log.read_text()
    assert f"data folder from {folder.resolve()} (decoded; cache {cache}" in first
    assert "300 train / 100 val" in first
    study = optuna.load_study(study_name="mine", storage=f"sqlite:///{tmp_path / 'runs/mine/study.db'}")
    assert len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]) == 2
    assert "images in" in (tmp_path / "runs/mine/dashboard.html").read_text()

    clear_cache()
    assert main(["--space", str(space), "--quiet", "--n-trials", "3"]) == 0
    assert f"data folder from {folder.resolve()} (cache {cache}" in log.read_text()[len(first):]

    changed = sorted((folder / "class_3").iterdir())[0]
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(changed)  # a file changes
    second = log.read_text()
    clear_cache()
    assert main(["--space", str(space), "--quiet", "--n-trials", "4"]) == 0
    assert "(decoded; cache" in log.read_text()[len(second):]
    assert len(list(cache.glob("folder-*.pt"))) == 1  # the changed folder's cache replaced the old


def test_greyscale_is_detected_and_channels_forces_rgb(tmp_path, cache) -> None:
    x, y = _fashion_images(tmp_path, 40)
    folder = _write_folder(tmp_path / "imgs", x, y)
    grey = _load(folder)
    assert grey.in_channels == 1 and grey.input_size == 28 and grey.num_classes == len(set(y.tolist()))
    rgb = _load(folder, channels=3)
    assert rgb.in_channels == 3 and (rgb.train_x[:, 0] == rgb.train_x[:, 2]).all()
    # a colour image anywhere makes the whole folder RGB
    Image.new("RGB", (40, 30), (200, 10, 10)).save(folder / "class_0" / "red.png")
    mixed = _load(folder)
    assert mixed.in_channels == 3 and mixed.input_size == 28


@pytest.mark.parametrize("case, message", [
    ("missing", "image folder {root} does not exist"),
    ("no_classes", "{root} has no class sub-folders"),
    ("empty_class", "class folder {root}/class_9 has no images"),
    ("truncated", "cannot read image {root}/class_0/bad.png"),
    ("too_few", "dataset.train_subset must be in [10, 30]: folder ({root}) has 30 training images; got 500"),
])
def test_bad_folders_are_one_message_and_leave_no_cache(tmp_path, cache, case: str, message: str) -> None:
    root = tmp_path / "imgs"
    x, y = _fashion_images(tmp_path, 30)
    if case != "missing":
        _write_folder(root, x, y)
    if case == "no_classes":
        for d in root.iterdir():
            for f in d.iterdir():
                f.rename(root / f"{d.name}-{f.name}")
            d.rmdir()
    if case == "empty_class":
        (root / "class_9").mkdir(exist_ok=True)
        for f in (root / "class_9").iterdir():
            f.unlink()
    if case == "truncated":
        # a good image of any class: the 30 images need not hold class 0
        data = next(f for d in sorted(root.iterdir()) for f in sorted(d.iterdir())).read_bytes()
        (root / "class_0").mkdir(exist_ok=True)
        (root / "class_0" / "bad.png").write_bytes(data[: len(data) // 2])
    clear_cache()
    with pytest.raises((DatasetError, DatasetNotFound, ValueError)) as e:
        load_proxy_data(name="folder", path=str(root), train_subset=500 if case == "too_few" else None,
                        val_fraction=0.25, image_size=28, progress=False)
    assert message.format(root=root) in str(e.value)
    assert not list(cache.glob("*.pt*")) or case == "too_few"  # decoding finished only there


def test_unreadable_images_can_be_skipped_and_counted(tmp_path, cache) -> None:
    folder = _write_folder(tmp_path / "imgs", *_fashion_images(tmp_path, 40))
    (folder / "class_0" / "broken.jpg").write_bytes(b"not an image at all")
    data = _load(folder, skip_unreadable=True)
    assert "1 unreadable image(s) skipped" in data.source
    assert len(data.train_x) + len(data.val_x) == 40


def test_a_separate_validation_folder_is_the_validation_split(tmp_path, cache) -> None:
    x, y = _fashion_images(tmp_path, 80)
    labels = y.tolist()
    kept = [i for i in range(80) if labels.count(labels[i]) >= 2]  # every class in both folders
    val_idx = [i for i in kept if labels.index(labels[i]) == i]  # each class's first image
    train_idx = [i for i in kept if i not in val_idx]
    train = _write_folder(tmp_path / "train", x[train_idx], y[train_idx])
    val = _write_folder(tmp_path / "val", x[val_idx], y[val_idx])
    data = _load(train, val_path=str(val))
    assert len(data.train_x) == len(train_idx) and len(data.val_x) == len(val_idx) >= 2
    assert sorted(data.val_y.tolist()) == sorted(y[val_idx].tolist())
    (val / "class_other").mkdir()
    Image.fromarray(x[0]).save(val / "class_other" / "a.png")
    with pytest.raises(DatasetError, match="dataset.val_path: .* has classes .*: they must be the same"):
        _load(train, val_path=str(val))


def test_cli_names_a_missing_folder_and_exits_2(tmp_path, cache, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    space = tmp_path / "gone.yaml"
    space.write_text(TINY_SPACE.format(name="gone", n_trials=2, extra="", confirm="false").replace(
        "dataset: {name: fashion-mnist, train_subset: 400, val_fraction: 0.25, download: false}",
        f"dataset: {{name: folder, path: {tmp_path / 'nowhere'}}}"))
    for argv in (["--space", str(space), "--quiet"], ["--space", str(space), "--dry-run"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"error: dataset.path: image folder {tmp_path / 'nowhere'} does not exist" in err
        assert "Traceback" not in err


def test_folder_keys_are_checked_by_the_schema(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    space = tmp_path / "keys.yaml"
    for dataset, wanted in (("{name: folder}", "name: folder needs path: DIR"),
                            ("{name: fashion-mnist, image_size: 32}",
                             "image_size: only for name: folder")):
        space.write_text(TINY_SPACE.format(name="keys", n_trials=2, extra="", confirm="false").replace(
            "{name: fashion-mnist, train_subset: 400, val_fraction: 0.25, download: false}", dataset))
        assert main(["--space", str(space), "--quiet"]) == 2
        assert wanted in capsys.readouterr().err


def test_the_winner_trains_in_full_on_your_folder_and_tests_on_another(tmp_path, cache,
                                                                         capsys) -> None:
    from runners.train import main as train_main
    from spaces import FORMAT_VERSION
    from tests.helpers import small_arch

    x, y = _fashion_images(tmp_path, 300)
    train = _write_folder(tmp_path / "train", x[:200], y[:200])
    test = _write_folder(tmp_path / "test", x[200:], y[200:])
    assert len(list(train.iterdir())) == len(list(test.iterdir())) == 10
    arch = tmp_path / "best.yaml"
    arch.write_text(yaml.safe_dump({"format_version": FORMAT_VERSION,
                                    "architecture": small_arch("se").to_dict()}))
    out = tmp_path / "trained"
    assert train_main(["--arch", str(arch), "--dataset", "folder", "--path", str(train),
                       "--test-path", str(test), "--epochs", "1", "--out", str(out)]) == 0
    report = yaml.safe_load((out / "train.yaml").read_text())
    assert (report["train_images"], report["test_images"]) == (200, 100)
    assert report["data"] == f"images in {train} (held out: {test})"
    # without a test folder: one message, exit 2, nothing trained
    assert train_main(["--arch", str(arch), "--dataset", "folder", "--path", str(train),
                       "--out", str(tmp_path / "no")]) == 2
    assert "needs --path DIR (every image trains) and --test-path DIR" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


def _folder_space(tmp_path: Path, folder: Path) -> Path:
    space = tmp_path / "mine.yaml"
    space.write_text(TINY_SPACE.format(name="mine", n_trials=2, extra="", confirm="false").replace(
        "dataset: {name: fashion-mnist, train_subset: 400, val_fraction: 0.25, download: false}",
        f"dataset: {{name: folder, path: {folder}, image_size: 28}}"))
    return space


def test_the_dry_run_decodes_the_images_and_names_an_unreadable_one(tmp_path, cache, monkeypatch,
                                                                   capsys) -> None:
    # issue 31: --dry-run said "valid" for a folder holding an unreadable image
    monkeypatch.chdir(tmp_path)
    folder = _write_folder(tmp_path / "imgs", *_fashion_images(tmp_path, 40))
    space = _folder_space(tmp_path, folder)
    assert main(["--space", str(space), "--dry-run"]) == 0
    assert f"images: decoded all 40 images of {folder.resolve()} (cached for the run)" in capsys.readouterr().out
    assert list(cache.glob("folder-*.pt"))  # the run reads this instead of decoding again
    (folder / "class_0" / "broken.jpg").write_bytes(b"not an image at all")
    assert main(["--space", str(space), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"cannot read image {folder.resolve() / 'class_0' / 'broken.jpg'}" in err and "Traceback" not in err


def test_a_large_folder_is_checked_on_a_sample_and_says_so(tmp_path, cache) -> None:
    from runners.data.folder import check_folder

    folder = _write_folder(tmp_path / "imgs", *_fashion_images(tmp_path, 60))
    line = check_folder(folder, image_size=28, decode_all=50, sample=20)
    assert line.startswith("decoded a random sample of 20 of the 60 images") and "0 unreadable" in line
    assert not list(cache.glob("folder-*.pt"))  # a sample is not a cache
