"""``Architecture``: one point of the search space, as a frozen value.

An architecture is a backbone (name + settings), the input it is built for
(channels, size, classes) and one ``StageChoice`` per backbone stage: an
attention module with its placement, and the convolution its blocks use. It is
canonical (hyper-parameters filled with their defaults and in constructor
order), hashable, and round-trips through plain dicts (JSON/YAML). It is the
de-duplication key of a study, the payload of a trial
(``user_attrs["arch"]``) and the content of an exported config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# one definition of the placements, torch-free; which positions a backbone offers is its
# ``BackboneSpec.positions``
from spaces import BLOCKS, POSITIONS, Blocks, Position, Pretrained


def _freeze(mapping: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(mapping.items())


@dataclass(frozen=True)
class StageChoice:
    """What goes into one stage.

    Attributes:
        attention: Registry name of the attention module (``"none"`` for none).
        hparams: Its hyper-parameters as ``(name, value)`` pairs in constructor
            order; build with ``StageChoice.create`` to canonicalise.
        position: ``pre_add`` (after the residual branch's last BatchNorm,
            before the addition; the papers' default), ``post_add``, or
            ``after_dw`` (after an inverted residual's depthwise conv; MobileNetV2).
        blocks: Which blocks of the stage get the module: ``all``, ``first``
            or ``last``.
        conv: Registry name of the convolution that the stage's blocks use for
            their 3x3 convolutions (``standard`` or e.g. ``odconv``).
        conv_hparams: Its hyper-parameters as ``(name, value)`` pairs.
    """

    attention: str = "none"
    hparams: tuple[tuple[str, Any], ...] = ()
    position: Position = "pre_add"
    blocks: Blocks = "all"
    conv: str = "standard"
    conv_hparams: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def create(
        cls,
        attention: str = "none",
        hparams: Mapping[str, Any] | None = None,
        *,
        position: str = "pre_add",
        blocks: str = "all",
        conv: str = "standard",
        conv_hparams: Mapping[str, Any] | None = None,
    ) -> StageChoice:
        """A canonical choice: hyper-parameters checked and defaults filled in.

        Raises:
            ValueError: unknown attention, convolution, hyper-parameter, value,
                position or blocks, with what is allowed.
        """
        from models.attention import get_attention_spec
        from models.convs import get_conv_spec

        spec = get_attention_spec(attention)
        conv_canonical = get_conv_spec(conv).canonical_hparams(conv_hparams or {})
        if position not in POSITIONS:
            raise ValueError(f"position {position!r} is invalid; allowed: {', '.join(POSITIONS)}")
        if blocks not in BLOCKS:
            raise ValueError(f"blocks {blocks!r} is invalid; allowed: {', '.join(BLOCKS)}")
        canonical = spec.canonical_hparams(hparams or {})
        if attention == "none":  # placement is meaningless without a module
            position, blocks = "pre_add", "all"
        return cls(attention, _freeze(canonical), position, blocks,  # type: ignore[arg-type]
                   conv, _freeze(conv_canonical))

    def short(self) -> str:
        """Compact form such as ``se(r=16)``, ``gc(ratio=0.25,mul)@post``,
        ``eca(k=3)[last]+odconv(n=4,ratio=0.0625)``."""
        from models.attention import get_attention_spec
        from models.convs import get_conv_spec

        parts = []
        if self.attention != "none":
            text = _call(self.attention, self.hparams, get_attention_spec(self.attention))
            if self.position != "pre_add":
                text += "@post" if self.position == "post_add" else "@dw"
            if self.blocks != "all":
                text += f"[{self.blocks}]"
            parts.append(text)
        if self.conv != "standard":
            parts.append(_call(self.conv, self.conv_hparams, get_conv_spec(self.conv)))
        return "+".join(parts) or "none"

    def to_dict(self) -> dict[str, Any]:
        return {
            "attention": self.attention,
            "hparams": dict(self.hparams),
            "position": self.position,
            "blocks": self.blocks,
            "conv": self.conv,
            "conv_hparams": dict(self.conv_hparams),
        }


def _call(name: str, hparams: tuple[tuple[str, Any], ...], spec: Any) -> str:
    """``name(short=value,...)``; a named option reads alone (``mul``, ``global``)."""
    parts = []
    for k, v in hparams:
        if isinstance(v, str) and v != "auto":
            parts.append(v)
        else:
            parts.append(f"{spec.hparam(k).short}={v:g}" if isinstance(v, float)
                         else f"{spec.hparam(k).short}={v}")
    return f"{name}({','.join(parts)})" if parts else name


@dataclass(frozen=True)
class Architecture:
    """A backbone, its input, and one ``StageChoice`` per stage.

    Attributes:
        backbone: Backbone registry name, e.g. ``resnet_cifar``.
        backbone_args: Backbone settings as sorted ``(name, value)`` pairs.
        stages: One choice per backbone stage.
        in_channels: Image channels (1 for Fashion-MNIST).
        input_size: Image side in pixels.
        num_classes: Classifier outputs.
        weights: The trained weights the backbone starts from (``backbone.weights`` of the
            space; ``models.pretrained``), or ``None`` for random ones. Part of the key.
    """

    backbone: str
    backbone_args: tuple[tuple[str, Any], ...]
    stages: tuple[StageChoice, ...]
    in_channels: int
    input_size: int
    num_classes: int
    weights: Pretrained | None = None

    @classmethod
    def create(
        cls,
        *,
        backbone: str,
        backbone_args: Mapping[str, Any],
        stages: list[StageChoice] | tuple[StageChoice, ...],
        in_channels: int,
        input_size: int,
        num_classes: int,
        weights: Pretrained | None = None,
    ) -> Architecture:
        return cls(backbone, tuple(sorted(backbone_args.items())), tuple(stages),
                   in_channels, input_size, num_classes, weights)

    def without_attention(self) -> Architecture:
        """The plain backbone for the same input: no attention and standard
        convolutions in every stage (the latency baseline)."""
        return Architecture(self.backbone, self.backbone_args,
                            tuple(StageChoice() for _ in self.stages),
                            self.in_channels, self.input_size, self.num_classes, self.weights)

    def short(self) -> str:
        """Per-stage choices joined by ``|``, e.g. ``se(r=16)|eca(k=3)|none``."""
        return "|".join(s.short() for s in self.stages)

    def key(self) -> str:
        """Canonical string of everything that defines the model (de-dup key)."""
        args = ",".join(f"{k}={v}" for k, v in self.backbone_args)
        if self.weights is not None:  # another start is another model
            args += f"{',' if args else ''}weights={self.weights.sha256[:12]}"
        return (f"{self.backbone}({args})/{self.in_channels}x{self.input_size}"
                f"->{self.num_classes}/{self.short()}")

    def to_dict(self) -> dict[str, Any]:
        weights = {"weights": self.weights.to_dict()} if self.weights is not None else {}
        return {
            "backbone": {"name": self.backbone, **dict(self.backbone_args), **weights},
            "input": {"channels": self.in_channels, "size": self.input_size},
            "num_classes": self.num_classes,
            "stages": [s.to_dict() for s in self.stages],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Architecture:
        """Inverse of ``to_dict``.

        Raises:
            ValueError: for a missing or unknown key, or an invalid choice.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"architecture: expected a mapping, got {type(data).__name__}")
        allowed = {"backbone", "input", "num_classes", "stages"}
        unknown = set(data) - allowed
        missing = allowed - set(data)
        if unknown or missing:
            raise ValueError(
                f"architecture keys must be {sorted(allowed)}; "
                f"unknown: {sorted(map(str, unknown))}, missing: {sorted(missing)}"
            )
        if not isinstance(data["backbone"], Mapping) or not isinstance(data["backbone"].get("name"), str):
            raise ValueError(f"architecture.backbone: expected a mapping with a backbone name, e.g. "
                             f"{{name: resnet_cifar, depth: 20, width: 16}}; got {data['backbone']!r}")
        backbone = dict(data["backbone"])
        name = backbone.pop("name")
        weights = _pretrained(backbone.pop("weights", None))
        if not isinstance(data["stages"], list) or not data["stages"]:
            raise ValueError(f"architecture.stages: expected a list with one choice per stage; "
                             f"got {data['stages']!r}")
        stages = []
        for i, s in enumerate(data["stages"]):
            if not isinstance(s, Mapping):
                raise ValueError(f"architecture.stages[{i}]: expected a mapping such as "
                                 f"{{attention: se, hparams: {{reduction: 16}}}}; got {s!r}")
            extra = set(s) - {"attention", "hparams", "position", "blocks", "conv", "conv_hparams"}
            if extra:
                raise ValueError(f"architecture.stages[{i}]: unknown keys {sorted(map(str, extra))}; "
                                 f"allowed: attention, hparams, position, blocks, conv, conv_hparams")
            for key in ("hparams", "conv_hparams"):
                if s.get(key) is not None and not isinstance(s[key], Mapping):
                    raise ValueError(f"architecture.stages[{i}].{key}: expected a mapping; got {s[key]!r}")
            try:
                stages.append(StageChoice.create(
                    s.get("attention", "none"), s.get("hparams") or {},
                    position=s.get("position", "pre_add"), blocks=s.get("blocks", "all"),
                    conv=s.get("conv", "standard"), conv_hparams=s.get("conv_hparams") or {},
                ))
            except (ValueError, TypeError) as e:
                raise ValueError(f"architecture.stages[{i}]: {e}") from None
        shape = {}
        for key, value, lo, hi in (("input.channels", (data["input"] or {}).get("channels")
                                    if isinstance(data["input"], Mapping) else None, 1, 64),
                                   ("input.size", (data["input"] or {}).get("size")
                                    if isinstance(data["input"], Mapping) else None, 8, 1024),
                                   ("num_classes", data["num_classes"], 2, 100_000)):
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"architecture.{key}: expected an integer in [{lo}, {hi}]; got {value!r}")
            shape[key] = value
        return cls.create(
            backbone=name,
            backbone_args=backbone,
            stages=stages,
            in_channels=shape["input.channels"],
            input_size=shape["input.size"],
            num_classes=shape["num_classes"],
            weights=weights,
        )


def _pretrained(value: Any) -> Pretrained | None:
    """``architecture.backbone.weights`` of a file (``Pretrained.to_dict``), or None."""
    if value is None:
        return None
    if (not isinstance(value, Mapping) or not {"path", "sha256"} <= set(value)
            or not all(isinstance(value[k], str) for k in value)):
        raise ValueError(f"architecture.backbone.weights: expected {{path: FILE, sha256: HEX, source: "
                         f"...}} (what the search recorded); got {value!r}")
    return Pretrained(value["path"], value["sha256"], value.get("source", ""))
