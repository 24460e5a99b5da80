"""Property-based fuzzing of the files a person hands over: space files and architecture files.

Each example starts from a bundled space file (or a ``best.yaml``-style
architecture file) and mutates it: deleted, duplicated and renamed keys, wrong
types, out-of-range, non-finite and huge numbers, empty and very long strings,
names one letter away from valid ones, wrong nesting, then sometimes breaks the
text itself (invalid YAML, bytes that are not UTF-8, an empty file). For every
such file each entry point either accepts it or exits 2 with one ``error:``
line that names the file: never a traceback, never exit 1.

The default run is short and derandomised (stable in CI); ``-m slow`` runs many
thousands of examples (``ATTNAS_FUZZ_EXAMPLES``, default 3000 per target).
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import re
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from models import build_model, load_architecture
from runners import train as train_cli
from runners.data import DatasetNotFound
from search import export as export_cli
from search import run as run_cli
from spaces import SPACES_DIR
from studies import write_study, write_trial

BUNDLED = {p.name: yaml.safe_load(p.read_text()) for p in sorted(SPACES_DIR.glob("*.yaml"))}
ARCH = {
    "format_version": 1,
    "architecture": {
        "backbone": {"name": "resnet_cifar", "depth": 8, "width": 8},
        "input": {"channels": 1, "size": 28},
        "num_classes": 10,
        "stages": [{"attention": "se", "hparams": {"reduction": 4}, "position": "pre_add",
                    "blocks": "last", "conv": "standard", "conv_hparams": {}},
                   {"attention": "none"},
                   {"attention": "eca", "hparams": {"kernel_size": 3}}],
    },
    "summary": "se(r=4)[last]|none|eca(k=3)",
}
NEAR = ["se", "sse", "eca", "ecaa", "gc", "ca", "cbam", "nonlocal", "none", "nonee", "resnet_cifar",
        "resnet_cifarr", "resnet18", "mobilenet_v2", "fashion-mnist", "fashion_mnist", "cifar10", "tpe",
        "tpee", "pre_add", "post_add", "after_dw", "last", "all", "first", "auto", "add", "mul",
        "latency_ms", "latency_ratio", "accuracy", "odconv", "standard", "cuda", "cpu", "onnxruntime"]
ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 300), st.sampled_from([0, -1, 10**30, -(10**30), 2**63]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["", "x" * 5000, "12m", "0s"]),
    st.sampled_from(NEAR), st.lists(st.integers(-3, 64), max_size=3), st.just({}), st.just([]),
    st.dictionaries(st.sampled_from(NEAR), st.integers(0, 8), max_size=2),
)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of a YAML document (mapping keys and list indices)."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


def parent_of(doc: Any, path: tuple) -> Any:
    node = doc
    for part in path[:-1]:
        node = node[part]
    return node


@st.composite
def mutated(draw, base: dict) -> dict:
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        every = paths(doc)
        if not every:
            break
        path = draw(st.sampled_from(every))
        parent, key = parent_of(doc, path), path[-1]
        op = draw(st.sampled_from(["delete", "value", "rename", "nest", "duplicate"]))
        if op == "delete":
            del parent[key]
        elif op == "value":
            parent[key] = draw(ODD_VALUES)
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(NEAR))] = parent.pop(key)
        elif op == "nest":
            parent[key] = draw(st.sampled_from([[parent[key]], {"x": parent[key]}, {"all": parent[key]}]))
        elif op == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
    return doc


@st.composite
def file_bytes(draw, base: dict) -> bytes:
    """A mutated document as YAML bytes, sometimes with the text itself broken."""
    text = yaml.safe_dump(draw(mutated(base)), sort_keys=False, allow_unicode=True)
    how = draw(st.sampled_from(["as is"] * 6 + ["invalid yaml", "not utf-8", "empty", "duplicate line",
                                                 "truncated"]))
    lines = text.splitlines(keepends=True)
    if how == "invalid yaml":
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, draw(st.sampled_from(["key: [1, 2\n", "  - : :\n", "\t- tab\n", "{{\n"])))
    elif how == "duplicate line" and lines:
        at = draw(st.integers(0, len(lines) - 1))
        lines.insert(at, lines[at])
    elif how == "truncated":
        lines = lines[:draw(st.integers(0, len(lines)))]
    data = "".join(lines).encode()
    if how == "not utf-8":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\xff\xfe" + data[at:]
    elif how == "empty":
        data = b""
    return data


class _NoAliases(yaml.SafeDumper):
    """Writes a repeated value out again instead of an anchor (a copied anchor line is an
    error of its own)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


KEY_LINE = re.compile(r"^(\s*)([A-Za-z_][\w.-]*):")


@st.composite
def duplicate_key_bytes(draw, base: dict) -> tuple[bytes, str, int]:
    """A mutated document with one of its block mapping keys given twice in a row: the bytes,
    the key, and the line of its first appearance (the second is the next line)."""
    lines = yaml.dump(draw(mutated(base)), Dumper=_NoAliases, sort_keys=False).splitlines(keepends=True)
    keyed = [i for i, line in enumerate(lines) if KEY_LINE.match(line)]
    assume(keyed)
    at = draw(st.sampled_from(keyed))
    lines.insert(at + 1, lines[at])
    return "".join(lines).encode(), KEY_LINE.match(lines[at])[2], at + 1


def fast_examples(default: int) -> int:
    return int(os.environ.get("ATTNAS_FUZZ_EXAMPLES", default))


def check_one_error_line(err: str, path: Path) -> None:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: "), err
    assert str(path) in lines[0] or path.name in lines[0], err


def dry_run_target(tmp_path: Path, data: bytes, capsys) -> None:
    path = tmp_path / "space.yaml"
    path.write_bytes(data)
    code = run_cli.main(["--space", str(path), "--dry-run"])
    out, err = capsys.readouterr()
    assert code in (0, 2), (code, err)
    if code == 2:
        check_one_error_line(err, path)
    else:
        assert "is valid" in out


def arch_target(tmp_path: Path, data: bytes) -> None:
    """The library (load_architecture + build_model) and the CLI that takes such a file."""
    path = tmp_path / "best.yaml"
    path.write_bytes(data)
    try:
        arch = load_architecture(path)
    except (ValueError, FileNotFoundError) as e:
        assert str(path) in str(e), e
        loaded = False
    else:
        loaded = True
        try:
            build_model(arch)
        except ValueError as e:  # a choice the backbone cannot build (e.g. non-local in a large stage)
            assert "backbone" in str(e), e
    # runners.train: a file it cannot use is one line naming it; a usable one gets as far as
    # the dataset, which this test withholds (nothing is trained)
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stderr(io.StringIO()) as err:
        mp.setattr(train_cli, "load_full_data", _no_data)
        code = train_cli.main(["--arch", str(path), "--epochs", "1", "--out", str(tmp_path / "o")])
    assert code == 2, err.getvalue()
    if loaded:
        assert "no data in this test" in err.getvalue()
    else:
        check_one_error_line(err.getvalue(), path)


def _no_data(**_: Any) -> None:
    raise DatasetNotFound("no data in this test")


@pytest.fixture()
def cheap_dry_run(monkeypatch):
    """The dry run times a few training steps of a sampled architecture; the fuzzer is about
    input handling, so the timing is replaced by a constant (a fuzzed space may name ResNet-50)."""
    import search.dry_run as dry

    monkeypatch.setattr(dry, "step_seconds", lambda *a, **k: (0.01, ""))
    monkeypatch.setattr(dry, "count_flops", lambda model, shape: 0)
    monkeypatch.setattr(dry, "build_model", lambda arch: None)


FAST = settings(max_examples=fast_examples(60), derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
SLOW = settings(max_examples=fast_examples(3000), derandomize=False, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_fuzzed_space_files_are_accepted_or_one_clear_error(name, tmp_path, capsys, cheap_dry_run) -> None:
    @FAST
    @given(file_bytes(BUNDLED[name]))
    def check(data: bytes) -> None:
        dry_run_target(tmp_path, data, capsys)

    check()


@FAST
@given(data=file_bytes(ARCH))
def test_fuzzed_architecture_files_load_and_build_or_one_value_error(tmp_path_factory, data) -> None:
    arch_target(tmp_path_factory.mktemp("arch"), data)


def check_duplicate_key(err: str, path: Path, key: str, first: int) -> None:
    check_one_error_line(err, path)
    assert f"key {key!r} appears twice in one mapping (lines {first} and {first + 1})" in err, err


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_a_key_given_twice_in_a_space_file_is_refused_naming_both_lines(name, tmp_path, capsys,
                                                                       cheap_dry_run) -> None:
    @FAST
    @given(duplicate_key_bytes(BUNDLED[name]))
    def check(case: tuple[bytes, str, int]) -> None:
        data, key, first = case
        path = tmp_path / "space.yaml"
        path.write_bytes(data)
        assert run_cli.main(["--space", str(path), "--dry-run"]) == 2
        check_duplicate_key(capsys.readouterr().err, path, key, first)

    check()


@FAST
@given(case=duplicate_key_bytes(ARCH))
def test_a_key_given_twice_in_an_architecture_file_is_refused_naming_both_lines(tmp_path_factory,
                                                                               case) -> None:
    data, key, first = case
    path = tmp_path_factory.mktemp("arch") / "best.yaml"
    path.write_bytes(data)
    with pytest.raises(ValueError) as e:
        load_architecture(path)
    assert f"{path}: key {key!r} appears twice in one mapping (lines {first} and {first + 1})" in str(e.value)
    with contextlib.redirect_stderr(io.StringIO()) as err:
        assert train_cli.main(["--arch", str(path), "--epochs", "1", "--out", str(path.parent / "o")]) == 2
    check_duplicate_key(err.getvalue(), path, key, first)


def _pick_study() -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "minimize"])
    write_study(study, objectives=["accuracy", "latency_ms"])
    for i, (acc, lat) in enumerate([(0.8, 1.0), (0.9, 2.0)]):
        t = study.ask()
        for k, v in (("accuracy", acc), ("latency_ms", lat), ("arch_short", f"a{i}"), ("arch_key", f"a{i}")):
            write_trial(t, **{k: v})
        study.tell(t, [acc, lat])
    return study


@FAST
@given(pick=st.one_of(st.text(max_size=30), st.from_regex(r"(latency<=|trial=)[0-9.eE+-]{0,8}", fullmatch=True)))
def test_fuzzed_picks_are_a_pick_error_or_a_trial(pick: str) -> None:
    from studies import PickError, pick_claim

    try:
        pick_claim(_pick_study(), pick)
    except PickError:
        pass


def test_directory_empty_and_missing_files(tmp_path, capsys, cheap_dry_run) -> None:
    (tmp_path / "empty.yaml").write_bytes(b"")
    for target in (tmp_path, tmp_path / "empty.yaml", tmp_path / "missing.yaml"):
        assert run_cli.main(["--space", str(target), "--dry-run"]) == 2
        check_one_error_line(capsys.readouterr().err, target)
    assert export_cli.main(["--study", "nope", "--storage", f"sqlite:///{tmp_path}/none/x.db"]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_fuzz_space_files_many(name, tmp_path, capsys, cheap_dry_run) -> None:
    @SLOW
    @given(file_bytes(BUNDLED[name]))
    def check(data: bytes) -> None:
        dry_run_target(tmp_path, data, capsys)

    check()


@pytest.mark.slow
@SLOW
@given(data=file_bytes(ARCH))
def test_fuzz_architecture_files_many(tmp_path_factory, data) -> None:
    arch_target(tmp_path_factory.mktemp("arch"), data)
