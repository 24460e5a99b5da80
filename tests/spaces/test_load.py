from __future__ import annotations

from pathlib import Path

import pytest

from models import get_backbone_spec
from runners.catalog import model_catalog
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


# finetune.yaml names weights and images that a user supplies: loaded below with stand-ins
SELF_CONTAINED = sorted(p.name for p in SPACES_DIR.glob("*.yaml") if p.name != "finetune.yaml")


@pytest.mark.parametrize("name", SELF_CONTAINED)
def test_bundled_spaces_load(name: str) -> None:
    space = load_space(name, catalog=CATALOG)
    assert space.size() > 1
    spec = get_backbone_spec(space.config.backbone.name)
    settings = spec.canonical_settings(space.config.backbone.settings())
    assert [s.name for s in space.stages] == [s.name for s in spec.stages(settings, 28)]


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
    with pytest.raises(SpaceError, match=r"stages.all.attention.sse: unknown attention "
                       r"\(did you mean 'se'\?\); allowed: none, ca, cbam, eca, ese, gc, ge, nonlocal"):
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
    with pytest.raises(SpaceError, match=r"objectives\[1\]: unknown metric 'speed'; allowed: accuracy, latency_ms, latency_ratio, params, flops, latency_flops, peak_memory"):
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


def test_nonlocal_in_a_stage_over_its_position_limit_names_the_stages_that_fit(tmp_path: Path) -> None:
    text = GOOD.replace("      none: {}\n", "      none: {}\n      nonlocal: {}\n")
    with pytest.raises(SpaceError, match=r"stages.all.attention.nonlocal: not allowed in stage1 "
                                         r"\(28x28 = 784 positions\); nonlocal is limited to "
                                         r"H\*W <= 256, which holds in: stage2, stage3"):
        load_space(write(tmp_path, text), catalog=CATALOG)
    text = GOOD + "  stage2:\n    attention: {none: {}, nonlocal: {reduction: [2, 4]}}\n"
    assert load_space(write(tmp_path, text), catalog=CATALOG).stages[1].size() == 1 + 2


def test_conv_choices_multiply_the_space_and_are_checked(tmp_path: Path) -> None:
    text = GOOD + "    conv: {standard: {}, odconv: {kernel_num: [1, 4]}}\n"
    space = load_space(write(tmp_path, text), catalog=CATALOG)
    assert space.size() == ((1 + 2 + 2) * 3) ** 3
    bad = GOOD + "    conv: {odconv: {kernel_num: [2]}, dyconv: {}}\n"
    with pytest.raises(SpaceError) as err:
        load_space(write(tmp_path, bad), catalog=CATALOG)
    assert "stages.all.conv.odconv.kernel_num[0]: got 2; allowed: one of 1, 4" in str(err.value)
    assert "stages.all.conv.dyconv: unknown conv (did you mean 'odconv'?); allowed: standard, odconv" in str(err.value)


def test_backbone_positions_and_conv_support_are_checked(tmp_path: Path) -> None:
    mobile = GOOD.replace("{name: resnet_cifar, depth: 8, width: 8}", "{name: mobilenet_v2}")
    space = load_space(write(tmp_path, mobile), catalog=CATALOG)
    assert space.stages[0].positions == ("after_dw",)  # the backbone's default position
    bad = mobile + "    conv: {odconv: {}}\n"
    with pytest.raises(SpaceError, match=r"stages.all.conv: backbone 'mobilenet_v2' has no "
                                         r"convolution choice .*allowed: standard"):
        load_space(write(tmp_path, bad), catalog=CATALOG)
    resnet = GOOD + "    position: [pre_add, after_dw]\n"
    with pytest.raises(SpaceError, match=r"stages.all.position: 'after_dw' is not a position of "
                                         r"backbone 'resnet_cifar'; allowed: pre_add, post_add"):
        load_space(write(tmp_path, resnet), catalog=CATALOG)


def test_bytes_that_are_not_utf8_are_one_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "space.yaml"
    p.write_bytes(GOOD.encode() + b"# caf\xe9\n")
    with pytest.raises(SpaceError, match=r"space.yaml: not UTF-8 text \(byte 0xe9 at offset \d+\); "
                                         r"save the space file as UTF-8"):
        load_space(p, catalog=CATALOG)


def test_a_directory_is_not_a_space_file(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match="is a directory; give the path of a YAML space file"):
        load_space(tmp_path, catalog=CATALOG)


def test_value_errors_and_registry_errors_are_reported_together(tmp_path: Path) -> None:
    """The schema's problems no longer hide the registry's: every problem of a file at once."""
    text = GOOD.replace("depth: 8", "depth: -3").replace("se: {", "sse: {") + "budget: {epochs: -7}\n"
    with pytest.raises(SpaceError) as e:
        load_space(write(tmp_path, text), catalog=CATALOG)
    msg = str(e.value)
    assert "3 problem(s)" in msg
    assert "budget.epochs: Input should be greater than 0; got -7" in msg
    assert "backbone: backbone 'resnet_cifar': depth=-3 is invalid" in msg
    assert "stages.all.attention.sse: unknown attention (did you mean 'se'?)" in msg


def test_unknown_backbone_still_checks_module_names(tmp_path: Path) -> None:
    text = GOOD.replace("name: resnet_cifar, depth: 8, width: 8", "name: resnett").replace("eca:", "ecca:")
    with pytest.raises(SpaceError) as e:
        load_space(write(tmp_path, text), catalog=CATALOG)
    assert "unknown backbone 'resnett'" in str(e.value)
    assert "stages.all.attention.ecca: unknown attention (did you mean 'eca'?)" in str(e.value)


def test_confirm_seeds_below_search_seeds_is_refused(tmp_path: Path) -> None:
    text = GOOD + "search: {seeds: 3}\nconfirm: {seeds: 2}\n"
    with pytest.raises(SpaceError, match=r"confirm.seeds: .* at least search.seeds \(3\); got 2"):
        load_space(write(tmp_path, text), catalog=CATALOG)
    assert load_space(write(tmp_path, GOOD + "confirm: false\n"), catalog=CATALOG).config.confirm is False


def test_a_setting_added_later_keeps_the_hash_of_studies_made_before_it(tmp_path: Path) -> None:
    # GOOD's settings' sha256 as a study recorded it before budget.erase_prob existed: such a
    # study still resumes; setting erase_prob makes another space
    path = write(tmp_path, GOOD)
    before = "15657fa874da828e53da9bae1f6864a0f956a56d97387b99367a9de92a29ea30"
    assert load_space(path, catalog=CATALOG).sha256 == before
    assert load_space(path, catalog=CATALOG, overrides={"budget.erase_prob": 0.0}).sha256 == before
    assert load_space(path, catalog=CATALOG, overrides={"budget.erase_prob": 0.5}).sha256 != before
    # inside a block added later: a space setting finetune.pretrained_lr, as hashed before
    # finetune.freeze existed (at 20b115a), resumes; freezing a stage makes another space
    path.write_text("name: h\nbackbone: {name: resnet_cifar, depth: 8, width: 8}\n"
                    "budget: {epochs: 1, finetune: {pretrained_lr: 0.02}}\n"
                    "stages: {all: {attention: {none: {}, se: {}}}}\n")
    before_freeze = "c49b29cc6b722b87672c092d9a186e5d9f806e169fa3e6545fe09d8d05f4c919"
    assert load_space(path, catalog=CATALOG).sha256 == before_freeze
    # finetune.scale_lr (added after freeze): unset is the space hashed before it existed
    assert load_space(path, catalog=CATALOG, overrides={"budget.finetune.scale_lr": None}
                      ).sha256 == before_freeze
    assert load_space(path, catalog=CATALOG, overrides={"budget.finetune.scale_lr": 1.0}
                      ).sha256 != before_freeze


def test_a_budget_setting_added_later_is_recorded_only_when_set() -> None:
    from spaces import BudgetConfig, budget_record

    # the record a checkpoint or weights file made before finetune.scale_lr existed
    record = budget_record(BudgetConfig(epochs=2))
    assert record["finetune"] == {"pretrained_lr": 0.01, "freeze": 0} and "device" not in record
    assert budget_record(BudgetConfig(epochs=2, finetune={"scale_lr": 1.0}))["finetune"] == {
        "pretrained_lr": 0.01, "freeze": 0, "scale_lr": 1.0}


def test_the_fine_tuning_space_loads_once_its_weights_and_images_are_there(tmp_path, monkeypatch) -> None:
    import torch
    import torchvision
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(SpaceError) as e:
        load_space("finetune.yaml", catalog=CATALOG)
    assert "not in the local torch hub cache" in str(e.value) and "resnet18-f37072fd.pth" in str(e.value)
    cached = tmp_path / "torch/hub/checkpoints/resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), cached)
    for c in ("a", "b"):
        (tmp_path / "images/train" / c).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (20, 20), (40 * i, 0, 0)).save(tmp_path / "images/train" / c / f"{i}.png")
    space = load_space("finetune.yaml", catalog=CATALOG)
    assert space.weights is not None and space.weights.path == str(cached)
    assert [s.name for s in space.stages] == ["layer1", "layer2", "layer3", "layer4"]


def test_torchvision_weights_with_the_small_stem_are_refused(tmp_path, monkeypatch) -> None:
    import torch
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = tmp_path / "torch/hub/checkpoints/mobilenet_v2-b0353104.pth"
    cached.parent.mkdir(parents=True)
    torch.save(torchvision.models.mobilenet_v2(weights=None).state_dict(), cached)
    text = ("name: m\nbackbone: {name: mobilenet_v2, stem: small, weights: IMAGENET1K_V1}\n"
            "stages:\n  all:\n    attention: {none: {}, se: {}}\n")
    with pytest.raises(SpaceError, match="trained with the ImageNet stem; use stem: imagenet"):
        load_space(write(tmp_path, text), catalog=CATALOG)
    load_space(write(tmp_path, text.replace("stem: small", "stem: imagenet")), catalog=CATALOG)
