"""A backbone started from trained weights: loading, fitting, and attention that starts as the
identity (issue 33)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from models import Architecture, StageChoice, build_model, get_backbone_spec
from models.attention import IdentityStart, attention_names, get_attention_spec
from models.convs.odconv import ODConv2d
from models.pretrained import PRETRAINED_ATTR, WeightsError, resolve_weights
from spaces import fits_positions

# small torchvision-sized inputs: the identity must hold for every module at every stage
BACKBONES = {
    "resnet18": ({"stem": "small"}, 3, 16),
    "mobilenet_v2": ({"width": 0.35, "stem": "small"}, 3, 16),
    "resnet_cifar": ({"depth": 8, "width": 8}, 1, 16),
}


def _trained(backbone: str, tmp_path: Path) -> Path:
    """A plain backbone with random weights and BatchNorm statistics made non-trivial, saved as
    ``torch.save(model.state_dict(), PATH)`` -- the stand-in of a trained network."""
    args, channels, size = BACKBONES[backbone]
    spec = get_backbone_spec(backbone)
    plain = Architecture.create(backbone=backbone, backbone_args=args,
                                stages=[StageChoice()] * len(spec.stages(spec.canonical_settings(args), size)),
                                in_channels=channels, input_size=size, num_classes=7)
    torch.manual_seed(1)
    model = build_model(plain)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
    path = tmp_path / f"{backbone}.pt"
    torch.save(model.state_dict(), path)
    return path


def _arch(backbone: str, weights, choice_for) -> Architecture:
    args, channels, size = BACKBONES[backbone]
    spec = get_backbone_spec(backbone)
    infos = spec.stages(spec.canonical_settings(args), size)
    return Architecture.create(backbone=backbone, backbone_args=args, stages=[choice_for(i) for i in infos],
                               in_channels=channels, input_size=size, num_classes=5, weights=weights)


def _logits(model: nn.Module, channels: int, size: int) -> torch.Tensor:
    torch.manual_seed(3)
    with torch.no_grad():
        return model.eval()(torch.randn(4, channels, size, size))


def _cases():
    for backbone in BACKBONES:
        spec = get_backbone_spec(backbone)
        for name in attention_names():
            if name != "none":
                for position in spec.positions:
                    yield backbone, name, position


@pytest.mark.parametrize(("backbone", "name", "position"), list(_cases()))
def test_every_module_at_every_position_starts_as_the_identity(backbone, name, position, tmp_path) -> None:
    weights = resolve_weights(backbone, str(_trained(backbone, tmp_path)))
    limit = get_attention_spec(name).max_positions

    def choice(info):  # the module wherever it fits (non-local is limited to small maps)
        fits = fits_positions(info.resolution, limit)
        return StageChoice.create(name if fits else "none", position=position)

    arch = _arch(backbone, weights, choice)
    with_modules = build_model(arch, seed=0)
    wrapped = [m for m in with_modules.modules() if isinstance(m, IdentityStart)]
    assert wrapped and all(isinstance(m.module, get_attention_spec(name).cls) for m in wrapped)
    plain = build_model(arch.without_attention(), seed=0)
    _, channels, size = BACKBONES[backbone]
    diff = (_logits(with_modules, channels, size) - _logits(plain, channels, size)).abs().max().item()
    assert diff <= 1e-5
    # ...and the plain network is the file's: its body is what was saved, its head is new
    saved = torch.load(weights.path, weights_only=True)
    own = plain.state_dict()
    head = [n for n, m in plain.named_modules() if isinstance(m, nn.Linear)][-1]
    assert all(torch.equal(own[k], v) for k, v in saved.items() if not k.startswith(head) and k in own
               and v.shape == own[k].shape)
    assert own[f"{head}.weight"].shape[0] == 5


@pytest.mark.parametrize("backbone", ["resnet18", "resnet_cifar"])
def test_odconv_in_place_of_a_trained_convolution_starts_as_that_convolution(backbone, tmp_path) -> None:
    weights = resolve_weights(backbone, str(_trained(backbone, tmp_path)))
    arch = _arch(backbone, weights, lambda info: StageChoice.create("se", conv="odconv"))
    model = build_model(arch, seed=0)
    convs = [m for m in model.modules() if isinstance(m, ODConv2d)]
    assert convs and all(m.gate_scale == 2.0 for m in convs)
    _, channels, size = BACKBONES[backbone]
    diff = (_logits(model, channels, size) - _logits(build_model(arch.without_attention(), seed=0),
                                                     channels, size)).abs().max().item()
    assert diff <= 1e-5


def test_a_training_step_moves_the_new_modules_and_the_body_at_its_own_rate(tmp_path) -> None:
    from runners.trainer import TrainBudget, param_groups

    weights = resolve_weights("resnet_cifar", str(_trained("resnet_cifar", tmp_path)))
    model = build_model(_arch("resnet_cifar", weights, lambda info: StageChoice.create("se")), seed=0)
    pretrained = getattr(model, PRETRAINED_ATTR)
    names = dict(model.named_parameters())
    assert any(n.endswith(".scale") for n in names) and not any(n.endswith(".scale") for n in pretrained)
    assert "stem.0.weight" in pretrained and not any(n.startswith("fc.") for n in pretrained)
    budget = TrainBudget(lr=0.1, finetune={"pretrained_lr": 0.01})
    groups = param_groups(model, budget, torch.device("cpu"), graphed=False)
    rate = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert all(rate[id(names[n])] == pytest.approx(0.01) for n in pretrained)
    assert {rate[id(p)] for n, p in names.items() if n not in pretrained} == {0.1}
    before = {n: p.detach().clone() for n, p in names.items()}
    opt = torch.optim.SGD(groups, lr=0.1)
    for _ in range(2):  # the first step moves the scales, the second the modules behind them
        opt.zero_grad()
        nn.functional.cross_entropy(model.train()(torch.randn(8, 1, 16, 16)),
                                    torch.randint(0, 5, (8,))).backward()
        opt.step()
    moved = {n for n, p in names.items() if not torch.equal(p, before[n])}
    assert any(n.endswith(".scale") for n in moved)
    assert any(".module.fc1." in n for n in moved)  # SE's own weights
    assert "stem.0.weight" in moved


def test_scale_lr_trains_the_identity_scales_at_their_own_rate(tmp_path) -> None:
    from runners.trainer import TrainBudget, param_groups

    weights = resolve_weights("resnet_cifar", str(_trained("resnet_cifar", tmp_path)))
    model = build_model(_arch("resnet_cifar", weights, lambda info: StageChoice.create("eca")), seed=0)
    names = dict(model.named_parameters())
    budget = TrainBudget(lr=0.1, finetune={"pretrained_lr": 0.01, "scale_lr": 1.0})
    rate = {id(p): g["lr"] for g in param_groups(model, budget, torch.device("cpu"), graphed=False)
            for p in g["params"]}
    scales = [n for n in names if n.endswith(".scale")]
    assert scales and {rate[id(names[n])] for n in scales} == {1.0}
    others = {rate[id(p)] for n, p in names.items()
              if n not in scales and n not in getattr(model, PRETRAINED_ATTR)}
    assert others == {0.1}  # ECA's own weights and the head keep budget.lr
    assert sorted({g["lr_scale"] for g in param_groups(model, budget, torch.device("cpu"), graphed=False)}
                  ) == pytest.approx([0.1, 1.0, 10.0])


def test_weights_that_do_not_fit_name_the_file_and_the_keys(tmp_path) -> None:
    other = _trained("resnet_cifar", tmp_path)
    with pytest.raises(WeightsError) as e:
        build_model(_arch("resnet18", resolve_weights("resnet18", str(other)), lambda i: StageChoice()))
    msg = str(e.value)
    assert str(other) in msg and "missing from the file, first conv1.weight" in msg
    assert "not in the model" in msg


def test_a_7x7_stem_file_into_the_small_stem_says_which_stem_fits(tmp_path) -> None:
    torch.manual_seed(0)
    import torchvision

    path = tmp_path / "imagenet-stem.pt"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(WeightsError, match=r"conv1.weight \(64, 3, 7, 7\) in the file.*use stem: imagenet"):
        build_model(_arch("resnet18", resolve_weights("resnet18", str(path)), lambda i: StageChoice()))


def test_a_missing_file_and_a_missing_hub_entry_say_where_they_looked(tmp_path, monkeypatch) -> None:
    with pytest.raises(WeightsError, match="no such file"):
        resolve_weights("resnet18", str(tmp_path / "nope.pt"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    with pytest.raises(WeightsError) as e:
        resolve_weights("resnet18", "IMAGENET1K_V1")
    msg = str(e.value)
    assert str(tmp_path / "hub" / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in msg
    assert "never downloads" in msg
    with pytest.raises(WeightsError, match="has no weights 'IMAGENET9K'"):
        resolve_weights("resnet18", "IMAGENET9K")


def test_a_hub_cache_file_is_used_where_it_is(tmp_path, monkeypatch) -> None:
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    cached = tmp_path / "hub" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    cached.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), cached)
    weights = resolve_weights("resnet18", "IMAGENET1K_V1")
    assert weights.path == str(cached) and weights.source == "IMAGENET1K_V1"
    model = build_model(Architecture.create(backbone="resnet18", backbone_args={"stem": "imagenet"},
                                            stages=[StageChoice()] * 4, in_channels=1, input_size=32,
                                            num_classes=3, weights=weights))
    # the RGB stem summed over its colours for grey images (timm's adapt_input_conv)
    saved = torch.load(cached, weights_only=True)["conv1.weight"]
    assert torch.allclose(model.conv1.weight, saved.sum(dim=1, keepdim=True))


def test_a_changed_weights_file_is_refused_and_the_key_names_the_weights(tmp_path) -> None:
    path = _trained("resnet_cifar", tmp_path)
    weights = resolve_weights("resnet_cifar", str(path))
    arch = _arch("resnet_cifar", weights, lambda i: StageChoice())
    assert f"weights={weights.sha256[:12]}" in arch.key()
    assert Architecture.from_dict(arch.to_dict()) == arch
    torch.save({"state_dict": torch.load(path, weights_only=True)}, path)  # same tensors, other bytes
    with pytest.raises(WeightsError, match="the weights file changed"):
        build_model(arch)
    again = resolve_weights("resnet_cifar", str(path))  # a checkpoint holding one under state_dict
    build_model(_arch("resnet_cifar", again, lambda i: StageChoice()))


@pytest.mark.parametrize("backbone", [*BACKBONES, "resnet50"])
def test_every_parameter_but_the_head_is_in_one_part_the_stem_or_a_stage(backbone) -> None:
    args, channels, size = BACKBONES.get(backbone, ({"stem": "small"}, 3, 16))
    spec = get_backbone_spec(backbone)
    assert spec.parts is not None
    canonical = spec.canonical_settings(args)
    parts = spec.parts(canonical)
    assert len(parts) == 1 + len(spec.stages(canonical, size))  # the stem, then each stage
    plain = Architecture.create(backbone=backbone, backbone_args=args,
                                stages=[StageChoice()] * (len(parts) - 1), in_channels=channels,
                                input_size=size, num_classes=5)
    head = ("fc.", "classifier.")
    for name, _ in build_model(plain).named_parameters():
        owners = [i for i, part in enumerate(parts) if name.startswith(part)]
        assert len(owners) == (0 if name.startswith(head) else 1), (name, owners)


def test_freezing_keeps_the_stem_and_first_stages_as_loaded_and_trains_what_is_new(tmp_path) -> None:
    from runners.data import ProxyData
    from runners.trainer import TrainBudget, train_proxy

    weights = resolve_weights("resnet_cifar", str(_trained("resnet_cifar", tmp_path)))
    model = build_model(_arch("resnet_cifar", weights, lambda info: StageChoice.create("se")), seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 1, 16, 16), dtype=torch.uint8, generator=g)
    labels = torch.arange(64) % 5
    data = ProxyData("toy", images[:48], labels[:48], images[48:], labels[48:], 5, (0.5,), (0.25,),
                     False, "made here")
    train_proxy(model, data, budget=TrainBudget(epochs=2, batch_size=16, finetune={"freeze": 1}), seed=0)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    frozen = [k for k in before if k.startswith(("stem.", "stages.0.")) and ".module." not in k
              and not k.endswith(".scale")]
    assert frozen and not changed & set(frozen)  # weights and BatchNorm statistics as loaded
    assert any(k.startswith("stages.0.") and (".module." in k or k.endswith(".scale")) for k in changed)
    assert any(k.startswith("stages.1.") and k.endswith("bn1.running_mean") for k in changed)
    assert any(k.startswith("stages.2.") and k.endswith("conv1.weight") for k in changed)
    assert {"fc.weight", "fc.bias"} <= changed


def test_freezing_without_weights_or_past_the_stages_is_refused(tmp_path) -> None:
    from runners.catalog import model_catalog
    from spaces import SpaceError, load_space

    path = tmp_path / "f.yaml"
    base = ("name: f\nbackbone: {{name: resnet_cifar, depth: 8, width: 8{weights}}}\n"
            "budget: {{finetune: {{freeze: {freeze}}}}}\nstages: {{all: {{attention: {{none: {{}}, se: {{}}}}}}}}\n")
    path.write_text(base.format(weights="", freeze=1))
    with pytest.raises(SpaceError, match="freeze: 1: the backbone starts from random weights"):
        load_space(path, catalog=model_catalog())
    trained = _trained("resnet_cifar", tmp_path)
    path.write_text(base.format(weights=f", weights: {trained}", freeze=4))
    with pytest.raises(SpaceError, match=r"has 3 stages \(stage1, stage2, stage3\); allowed: 0 to 3"):
        load_space(path, catalog=model_catalog())
    path.write_text(base.format(weights=f", weights: {trained}", freeze=3))
    frozen = load_space(path, catalog=model_catalog())
    path.write_text(base.format(weights=f", weights: {trained}", freeze=0))
    assert load_space(path, catalog=model_catalog()).sha256 != frozen.sha256  # another space


def test_a_weights_file_is_hashed_once_while_unchanged_and_again_when_its_bytes_change(
        tmp_path, monkeypatch) -> None:
    import builtins
    import hashlib
    import os

    from models.pretrained import file_sha256

    path = tmp_path / "w.bin"
    path.write_bytes(b"a" * 100)
    first = file_sha256(path)
    assert first == hashlib.sha256(b"a" * 100).hexdigest()
    real_open = builtins.open

    def no_read(*args, **kwargs):
        raise AssertionError("an unchanged file was read again")

    monkeypatch.setattr(builtins, "open", no_read)
    assert file_sha256(path) == first  # served from what this process hashed
    monkeypatch.setattr(builtins, "open", real_open)
    # the same size, other bytes, a later modification time: hashed again
    path.write_bytes(b"b" * 100)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert file_sha256(path) == hashlib.sha256(b"b" * 100).hexdigest()
