from __future__ import annotations

import pytest
import torch
import yaml

from models import (
    Architecture,
    StageChoice,
    build_model,
    get_backbone_spec,
    load_architecture,
    model_signature,
)


def arch(*stages: StageChoice, depth: int = 8, width: int = 16) -> Architecture:
    return Architecture.create(backbone="resnet_cifar", backbone_args={"depth": depth, "width": width},
                               stages=list(stages), in_channels=1, input_size=28, num_classes=10)


def test_canonical_form_fills_defaults() -> None:
    assert StageChoice.create("se") == StageChoice.create("se", {"reduction": 16})
    a = arch(StageChoice.create("se"), StageChoice.create("eca", {"kernel_size": 3}),
             StageChoice.create("none"))
    assert a.short() == "se(r=16)|eca(k=3)|none"


def test_dict_and_yaml_round_trip() -> None:
    a = arch(StageChoice.create("gc", {"ratio": 0.25, "fusion": "mul"}, position="post_add"),
             StageChoice.create("ca", blocks="last"), StageChoice.create("none"))
    assert Architecture.from_dict(yaml.safe_load(yaml.safe_dump(a.to_dict()))) == a
    assert hash(Architecture.from_dict(a.to_dict())) == hash(a)


def test_wrong_stage_count_names_the_backbone_stage_count() -> None:
    with pytest.raises(ValueError, match=r"backbone 'resnet_cifar' has 3 stages .*got 2 stage choices"):
        build_model(arch(StageChoice.create("none"), StageChoice.create("none")))


def test_invalid_backbone_setting() -> None:
    with pytest.raises(ValueError, match=r"depth=21 is invalid; allowed: one of 8, 14, 20, 32, 44, 56"):
        build_model(arch(*[StageChoice.create("none")] * 3, depth=21))


CHOICES = [
    StageChoice.create("se", {"reduction": 4}),
    StageChoice.create("se", {"reduction": 16}),
    StageChoice.create("eca", {"kernel_size": 3}),
    StageChoice.create("eca", {"kernel_size": 7}),
    StageChoice.create("gc", {"fusion": "add"}),
    StageChoice.create("gc", {"fusion": "mul"}),
    StageChoice.create("gc", {"ratio": 0.25}),
    StageChoice.create("ca", {"reduction": 4}),
    StageChoice.create("ca", {"reduction": 32}),
    StageChoice.create("se", position="post_add"),
    StageChoice.create("se", blocks="first"),
    StageChoice.create("se", blocks="last"),
]


@pytest.mark.parametrize("stage", range(3))
def test_every_choice_builds_runs_and_changes_the_model(stage: int) -> None:
    none = StageChoice.create("none")
    seen = {model_signature(build_model(arch(none, none, none, depth=14, width=64)))}
    for choice in CHOICES:
        stages = [none, none, none]
        stages[stage] = choice
        model = build_model(arch(*stages, depth=14, width=64))
        out = model(torch.randn(2, 1, 28, 28))
        out.sum().backward()
        assert out.shape == (2, 10)
        sig = model_signature(model)
        assert sig not in seen, f"{choice.short()} in stage {stage} builds a model seen before"
        seen.add(sig)


def test_attention_sits_before_the_addition_by_default() -> None:
    model = build_model(arch(StageChoice.create("se"), *[StageChoice.create("none")] * 2))
    block = model.stages[0][0]
    calls = []
    block.attention.register_forward_hook(lambda m, i, o: calls.append(i[0].clone()))
    block.bn2.register_forward_hook(lambda m, i, o: calls.append(o.clone()))
    model.eval()(torch.randn(1, 1, 28, 28))
    assert torch.equal(calls[0], calls[1])  # attention's input is bn2's output


def test_stages_report_channels_and_resolution() -> None:
    spec = get_backbone_spec("resnet_cifar")
    stages = spec.stages({"depth": 20, "width": 16}, 28)
    assert [(s.channels, s.resolution, s.blocks) for s in stages] == [(16, 28, 3), (32, 14, 3), (64, 7, 3)]


def test_load_architecture_refuses_newer_format(tmp_path) -> None:
    a = arch(*[StageChoice.create("none")] * 3)
    path = tmp_path / "best.yaml"
    path.write_text(yaml.safe_dump({"format_version": 99, "architecture": a.to_dict()}))
    with pytest.raises(ValueError, match="format_version 99 is not supported"):
        load_architecture(path)
    path.write_text(yaml.safe_dump({"format_version": 1, "architecture": {
        **a.to_dict(), "stages": [{"attention": "bam"}] * 3}}))
    with pytest.raises(ValueError, match=r"stages\[0\]: unknown attention 'bam'"):
        load_architecture(path)


ARCH_FILE = """\
format_version: 1
architecture:
  backbone: {name: resnet_cifar}
  input: {channels: 1, size: 28}
  num_classes: 10
  stages: [{attention: none}, {attention: none}, {attention: se}]
"""


def test_architecture_file_without_backbone_settings_builds_with_the_defaults(tmp_path) -> None:
    path = tmp_path / "best.yaml"
    path.write_text(ARCH_FILE)
    arch = load_architecture(path)
    assert dict(arch.backbone_args) == {"depth": 20, "width": 16}
    assert arch.key().startswith("resnet_cifar(depth=20,width=16)/")
    build_model(arch)  # was KeyError: 'depth'
    # an Architecture made by hand without settings builds too
    bare = Architecture.create(backbone="resnet_cifar", backbone_args={}, stages=[StageChoice()] * 3,
                               in_channels=1, input_size=28, num_classes=10)
    assert model_signature(build_model(bare)) == model_signature(build_model(arch.without_attention()))


@pytest.mark.parametrize(("text", "message"), [
    (ARCH_FILE.replace("{name: resnet_cifar}", "resnet_cifar"), r"architecture.backbone: expected a mapping"),
    (ARCH_FILE.replace("[{attention: none}, {attention: none}, {attention: se}]", "se"),
     r"architecture.stages: expected a list"),
    (ARCH_FILE.replace("{attention: se}", "se"), r"architecture.stages\[2\]: expected a mapping"),
    (ARCH_FILE.replace("size: 28", "size: big"), r"architecture.input.size: expected an integer"),
    (ARCH_FILE.replace("num_classes: 10", "num_classes: -1"), r"architecture.num_classes: expected an integer"),
    (ARCH_FILE.replace("{name: resnet_cifar}", "{name: resnet_cifar, depth: 7}"), r"depth=7 is invalid"),
    (ARCH_FILE.replace("stages: [", "stages: [[["), r"invalid YAML"),
    (ARCH_FILE.replace("  num_classes: 10\n", "  num_classes: 10\n  num_classes: 100\n"),
     r"key 'num_classes' appears twice in one mapping \(lines 5 and 6\); keep one"),
    (ARCH_FILE.replace("format_version: 1", "format_version: true"), r"format_version True is not supported"),
])
def test_broken_architecture_files_are_one_value_error_naming_the_file(tmp_path, text, message) -> None:
    path = tmp_path / "best.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"best.yaml: .*{message}|best.yaml: {message}"):
        load_architecture(path)


def test_architecture_file_read_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="architecture file .*nothere.yaml not found"):
        load_architecture(tmp_path / "nothere.yaml")
    with pytest.raises(ValueError, match="is a directory"):
        load_architecture(tmp_path)
    (tmp_path / "latin1.yaml").write_bytes(ARCH_FILE.encode() + b"# \xff\n")
    with pytest.raises(ValueError, match=r"latin1.yaml: not UTF-8 text \(byte 0xff"):
        load_architecture(tmp_path / "latin1.yaml")


def test_the_searched_budget_reads_back_typed_from_any_version(tmp_path) -> None:
    from models import searched_budget, write_architecture
    from spaces import SpaceError
    from tests.helpers import small_arch

    a = small_arch("se")
    path = write_architecture(tmp_path / "best.yaml", a)
    assert searched_budget(path) is None  # no source: written by hand or by write_architecture alone
    write_architecture(path, a, source={"budget": {"epochs": 3, "lr": 0.05, "a_later_key": 1}})
    budget, given = searched_budget(path)
    assert (budget.epochs, budget.lr, budget.batch_size) == (3, 0.05, 128)  # the rest: the schema's
    assert given == {"epochs", "lr"}  # what the file says, not the defaults filled in
    write_architecture(path, a, source={"budget": {"epochs": -1}})
    with pytest.raises(SpaceError, match=r"best.yaml: source.budget does not validate .*epochs"):
        searched_budget(path)
