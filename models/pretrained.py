"""Starting a backbone from trained weights, with attention that starts as the identity.

A fine-tuning user takes a trained network and adds modules to it; the network must still
compute what it computed before until training says otherwise (issue 33). ``build_model``
does it in three steps when an ``Architecture`` carries ``weights``:

1. The plain backbone is built and the weights file is loaded into it (``load_pretrained``):
   every tensor must fit, except the classifier head, which is always new (the dataset's
   classes), and the stem's input channels, which are adapted the way timm's
   ``adapt_input_conv`` does (an RGB stem summed over its colours for grey images; a grey
   one repeated and divided by three for RGB).
2. The candidate is built and the plain network's tensors are copied into it
   (``models.shared_init``); an ODConv in place of a trained 3x3 convolution starts from that
   convolution (``ODConv2d.start_from``).
3. Every attention module is wrapped in ``IdentityStart`` (``x + scale * (f(x) - x)``, scale
   zero), so at step 0 the logits are those of the plain pretrained network.

The names of the parameters that came from the file are kept on the model
(``PRETRAINED_ATTR``): the trainer gives them ``budget.finetune.pretrained_lr``.
Nothing is ever downloaded: a torchvision weights name is looked up in the local torch hub
cache only (``resolve_weights``).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import torch
from torch import Tensor, nn

from errors import UserError
from models.attention import IdentityStart, attention_classes
from models.convs.odconv import ODConv2d
from spaces import Pretrained

# the model attribute holding the names of the parameters loaded from the weights file
PRETRAINED_ATTR = "attnas_pretrained"
# the model attribute holding the parameter-name prefixes of its stem and stages
# (``BackboneSpec.parts``), what ``freeze_pretrained`` freezes; None where the backbone has none
PARTS_ATTR = "attnas_parts"
# where a checkpoint may hold its state dict (runners.train writes "state_dict",
# runners.checkpoint "model")
STATE_DICT_KEYS = ("state_dict", "model")
_WEIGHTS_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")  # IMAGENET1K_V1, DEFAULT, ...
_SHOWN = 3  # keys named in a message that lists what does not fit


class WeightsError(UserError, ValueError):
    """Weights that cannot be found, read, or do not fit the backbone; the message says which."""


# sha256 of files this process has hashed, by what stat says of them: a search builds a model from
# the same weights file for every trial and checks it each time (read_state_dict)
_HASHED: dict[tuple[str, int, int, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """The sha256 of the file's bytes. Hashed once per process while the file's device, inode,
    size and modification time (in ns) stay the same, as git's index and ccache decide that a
    file is unchanged; a file rewritten or replaced changes one of them and is hashed again."""
    st = Path(path).stat()
    key = (str(Path(path).resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _HASHED:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _HASHED[key] = h.hexdigest()
    return _HASHED[key]


def _hub_file(backbone: str, name: str) -> tuple[Path, str]:
    """The torch hub cache's file for torchvision weights ``name`` of ``backbone``, and its URL."""
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(backbone)
    except ValueError:
        raise WeightsError(f"{name!r} is a torchvision weights name, but torchvision has no "
                           f"weights for backbone {backbone!r}; give a state dict file instead") from None
    names = [w.name for w in enum] + ["DEFAULT"]
    if name not in names:
        raise WeightsError(f"torchvision has no weights {name!r} for {backbone}; it has: {', '.join(names)}")
    url = enum[name].url if name != "DEFAULT" else enum.DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name, url


def is_weights_name(weights: str) -> bool:
    """Whether ``backbone.weights`` names torchvision weights (``IMAGENET1K_V1``) rather than a
    file (a file of that name in the working directory wins)."""
    return bool(_WEIGHTS_NAME.match(weights)) and not Path(weights).exists()


def resolve_weights(backbone: str, weights: str) -> Pretrained:
    """The file ``weights`` names for ``backbone`` (a path, or a torchvision weights name looked
    up in the local torch hub cache), with its sha256.

    Raises:
        WeightsError: no such file (for a weights name: where it looked, and how to put the
            file there), or an unknown weights name.
    """
    if is_weights_name(weights):
        path, url = _hub_file(backbone, weights)
        if not path.is_file():
            raise WeightsError(
                f"{backbone} weights {weights} are not in the local torch hub cache: looked for "
                f"{path} (torch.hub.get_dir() is {torch.hub.get_dir()}; TORCH_HOME moves it). attnas "
                f"never downloads: copy the file {Path(url).name} there from a machine that has it "
                f"(it is {url}), or give backbone.weights a path to a saved state dict")
        return Pretrained(str(path), file_sha256(path), weights)
    path = Path(weights).expanduser()
    if not path.is_file():
        raise WeightsError(f"{weights}: no such file (looked at {path.resolve()}); expected a state "
                           f"dict saved with torch.save(model.state_dict(), PATH) or a torchvision "
                           f"weights name such as IMAGENET1K_V1")
    return Pretrained(str(path.resolve()), file_sha256(path), weights)


def read_state_dict(pretrained: Pretrained) -> dict[str, Tensor]:
    """The state dict in ``pretrained``'s file, checking that the file is still the one hashed.

    Raises:
        WeightsError: changed since it was hashed, not a torch file, or no state dict in it.
    """
    path = Path(pretrained.path)
    if not path.is_file():
        raise WeightsError(f"{path}: the weights file is gone (the architecture was made from it)")
    if (sha := file_sha256(path)) != pretrained.sha256:
        raise WeightsError(f"{path}: the weights file changed (sha256 {sha[:12]}, the architecture "
                           f"was made from {pretrained.sha256[:12]})")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (pickle, zip and torch errors alike: not a weights file)
        raise WeightsError(f"{path}: not a torch weights file ({type(e).__name__}: {e})") from None
    if isinstance(data, dict):
        for key in STATE_DICT_KEYS:
            if isinstance(data.get(key), dict):
                data = data[key]
                break
    if not isinstance(data, dict) or not data or not all(isinstance(v, Tensor) for v in data.values()):
        raise WeightsError(f"{path}: holds no state dict (expected a mapping of names to tensors, or a "
                           f"checkpoint holding one under {' or '.join(STATE_DICT_KEYS)})")
    return {k.removeprefix("module."): v for k, v in data.items()}  # DataParallel's prefix


def _head(model: nn.Module) -> str:
    """The module name of the classifier head: the last ``nn.Linear``."""
    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]


def _adapt_input(w: Tensor, channels: int) -> Tensor:
    """A stem kernel for ``channels`` input channels (timm's ``adapt_input_conv``)."""
    if w.shape[1] == 3 and channels == 1:
        return w.sum(dim=1, keepdim=True)
    if w.shape[1] == 1 and channels == 3:
        return w.repeat(1, 3, 1, 1) / 3
    return w


def load_pretrained(plain: nn.Module, pretrained: Pretrained) -> None:
    """Load ``pretrained`` into the plain backbone ``plain`` (in place), all but its head.

    Raises:
        WeightsError: keys missing from the file or not in the model, or shapes that differ,
            naming the file and the first few of each.
    """
    state = read_state_dict(pretrained)
    own = plain.state_dict()
    head = _head(plain) + "."
    stem = next(k for k, v in own.items() if v.ndim == 4)
    if stem in state and state[stem].ndim == 4:
        state[stem] = _adapt_input(state[stem], own[stem].shape[1])
    body = {k for k in own if not k.startswith(head)}
    given = {k for k in state if not k.startswith(head)}
    problems = []
    if missing := sorted(body - given, key=list(own).index):
        problems.append(f"{len(missing)} key(s) of the model missing from the file, first "
                        f"{', '.join(missing[:_SHOWN])}")
    if extra := sorted(given - body):
        problems.append(f"{len(extra)} key(s) of the file not in the model, first "
                        f"{', '.join(extra[:_SHOWN])}")
    shapes = [f"{k} {tuple(state[k].shape)} in the file, {tuple(own[k].shape)} in the model"
              for k in own if k in body & given and state[k].shape != own[k].shape]
    if shapes:
        problems.append(f"{len(shapes)} shape(s) differ, first {'; '.join(shapes[:_SHOWN])}")
    if problems:
        hint = (" (the 3x3 stem of stem: small cannot take weights trained with the 7x7 ImageNet stem: "
                "use stem: imagenet)" if stem in (k.split(" ")[0] for k in shapes) else "")
        raise WeightsError(f"{pretrained.source or pretrained.path} does not fit this backbone: "
                           f"{'; '.join(problems)}{hint}")
    with torch.no_grad():
        for k in body:
            own[k].copy_(state[k].to(own[k].dtype))


def start_from_plain(src: nn.Module, dst: nn.Module) -> None:
    """``models.shared_init``'s hook for a layer of another kind: an ODConv in place of a
    trained convolution starts as that convolution."""
    if isinstance(dst, ODConv2d) and isinstance(src, nn.Conv2d):
        dst.start_from(src.weight)


def wrap_attention(model: nn.Module) -> int:
    """Wrap every attention module of ``model`` in ``IdentityStart`` (in place); how many."""
    kinds = attention_classes()
    found = [(parent, name, child) for parent in model.modules()
             for name, child in parent.named_children()
             if isinstance(child, kinds) and not isinstance(parent, IdentityStart)]
    for parent, name, child in found:
        setattr(parent, name, IdentityStart(child))
    return len(found)


def pretrained_names(model: nn.Module) -> frozenset[str]:
    """The names of the candidate's parameters that hold loaded weights: everything but the
    wrapped attention modules, ODConv's attention branches (its kernels are loaded) and the head."""
    new = [_head(model) + "."]
    for name, m in model.named_modules():
        if isinstance(m, IdentityStart):
            new.append(name + ".")
        elif isinstance(m, ODConv2d):
            new += [f"{name}.{child}." for child, _ in m.named_children()]
    return frozenset(n for n, _ in model.named_parameters() if not n.startswith(tuple(new)))


def freeze_pretrained(model: nn.Module, stages: int) -> list[nn.Module]:
    """Freeze the stem and the first ``stages`` stages of a model started from trained weights
    (``budget.finetune.freeze``): their loaded parameters stop training (``requires_grad``
    off) and their BatchNorm layers keep the trained statistics. Attention modules and ODConv
    branches inserted there are new and still train. Returns the BatchNorm layers the trainer
    must hold in eval mode whenever it puts the model in training mode.

    Raises:
        ValueError: ``stages`` > 0 for a model not started from trained weights, for a backbone
            that does not name its stages, or beyond its stages.
    """
    if stages == 0:
        return []
    pretrained = getattr(model, PRETRAINED_ATTR, None)
    parts = getattr(model, PARTS_ATTR, None)
    if not pretrained:
        raise ValueError("budget.finetune.freeze: the backbone starts from random weights "
                         "(no backbone.weights); there is nothing trained to freeze")
    if parts is None:
        raise ValueError("budget.finetune.freeze: this backbone does not say where its stages are")
    if stages > len(parts) - 1:
        raise ValueError(f"budget.finetune.freeze: {stages} stages asked, the backbone has "
                         f"{len(parts) - 1}")
    prefixes = tuple(p for part in parts[:stages + 1] for p in part)
    frozen = {n for n, p in model.named_parameters() if n in pretrained and n.startswith(prefixes)}
    for n, p in model.named_parameters():
        if n in frozen:
            p.requires_grad_(False)
    return [m for name, m in model.named_modules()
            if isinstance(m, nn.BatchNorm2d) and f"{name}.".startswith(prefixes)
            and all(f"{name}.{k}" in frozen for k, _ in m.named_parameters(recurse=False))]
