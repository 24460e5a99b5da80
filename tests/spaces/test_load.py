from __future__ import annotations

from pathlib import Path

import pytest

from search.catalog import model_catalog
from spaces import SPACES_DIR, SpaceError, load_space

CATALOG = model_catalog()

GOOD = """\
name: s
backbone: {name: resnet_cifar, depth: 8, width: 8}
stages:
  all:
    attention:
      none: {}
      se: {reduction: [4, 16]}
      eca: {kernel_size: [auto, 3]}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "space.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("name", sorted(p.name for p in SPACES_DIR.glob("*.yaml")))
def test_bundled_spaces_load(name: str) -> None:
    space = load_space(name, catalog=CATALOG)
    assert space.size() > 1
    assert len(space.stages) == 3


def test_size_counts_distinct_architectures(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, GOOD), catalog=CATALOG)
    assert space.size() == (1 + 2 + 2) ** 3
    assert space.directions == ["maximize", "minimize"]


def test_per_stage_override_and_pin(tmp_path: Path) -> None:
    text = GOOD + "  stage3:\n    attention: {se: {reduction: 8}}\n    position: post_add\n"
    space = load_space(write(tmp_path, text), catalog=CATALOG)
    assert space.stages[2].size() == 1
    assert space.stages[2].positions == ("post_add",)


def test_missing_file_lists_bundled_spaces() -> None:
    with pytest.raises(SpaceError, match=r"space file 'nope.yaml' not found .*attention.yaml"):
        load_space("nope.yaml", catalog=CATALOG)


def test_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match="invalid YAML"):
        load_space(write(tmp_path, "name: [unclosed\n"), catalog=CATALOG)


def test_unknown_attention_suggests_near_miss(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match=r"stages.all.attention.sse: unknown attention \(did you mean 'se'\?\); allowed: none, ca, eca, gc, se"):
        load_space(write(tmp_path, GOOD.replace("se:", "sse:")), catalog=CATALOG)


def test_invalid_hparam_value_names_key_path(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match=r"stages.all.attention.se.reduction\[1\]: got 0; allowed: an integer in \[1, 256\]"):
        load_space(write(tmp_path, GOOD.replace("[4, 16]", "[4, 0]")), catalog=CATALOG)


def test_unknown_key_suggests_near_miss(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match=r"stages.all.atention: unknown key \(did you mean 'attention'\?\)"):
        load_space(write(tmp_path, GOOD.replace("    attention:", "    atention:")), catalog=CATALOG)


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("se:", "sse:").replace("[auto, 3]", "[auto, 4]")
    with pytest.raises(SpaceError) as err:
        load_space(write(tmp_path, text), catalog=CATALOG)
    assert "2 problem(s)" in str(err.value)
    assert "kernel_size[1]: got 4" in str(err.value)


def test_unknown_objective_metric_lists_metrics(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match=r"objectives\[1\]: unknown metric 'speed'; allowed: accuracy, latency_ms, latency_ratio, params, flops, peak_memory"):
        load_space(write(tmp_path, "objectives: [accuracy, speed]\n" + GOOD), catalog=CATALOG)


def test_unknown_stage_name(tmp_path: Path) -> None:
    text = GOOD + "  stage9:\n    attention: {none: {}}\n"
    with pytest.raises(SpaceError, match=r"stages.stage9: unknown stage .* has: all, stage1, stage2, stage3"):
        load_space(write(tmp_path, text), catalog=CATALOG)


def test_spaces_package_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = ("import sys, spaces; spaces.load_space; "
            "assert 'torch' not in sys.modules, 'spaces imported torch'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_peak_memory_needs_cuda_latency(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match=r"peak_memory: measured on CUDA only; set latency.device: cuda"):
        load_space(write(tmp_path, "objectives: [accuracy, peak_memory]\n" + GOOD), catalog=CATALOG)
