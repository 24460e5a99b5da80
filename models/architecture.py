"""``Architecture``: one point of the search space, as a frozen value.

An architecture is a backbone (name + settings), the input it is built for
(channels, size, classes) and one ``StageChoice`` per backbone stage. It is
canonical (hyper-parameters filled with their defaults and in constructor
order), hashable, and round-trips through plain dicts (JSON/YAML). It is the
de-duplication key of a study, the payload of a trial
(``user_attrs["arch"]``) and the content of an exported config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Position = Literal["pre_add", "post_add"]
Blocks = Literal["all", "first", "last"]
POSITIONS: tuple[str, ...] = ("pre_add", "post_add")
BLOCKS: tuple[str, ...] = ("all", "first", "last")


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
            before the addition; the papers' default) or ``post_add``.
        blocks: Which blocks of the stage get the module: ``all``, ``first``
            or ``last``.
    """

    attention: str = "none"
    hparams: tuple[tuple[str, Any], ...] = ()
    position: Position = "pre_add"
    blocks: Blocks = "all"

    @classmethod
    def create(
        cls,
        attention: str = "none",
        hparams: Mapping[str, Any] | None = None,
        *,
        position: str = "pre_add",
        blocks: str = "all",
    ) -> StageChoice:
        """A canonical choice: hyper-parameters checked and defaults filled in.

        Raises:
            ValueError: unknown attention, hyper-parameter, value, position or
                blocks, with what is allowed.
        """
        from models.attention import get_attention_spec

        spec = get_attention_spec(attention)
        if position not in POSITIONS:
            raise ValueError(f"position {position!r} is invalid; allowed: {', '.join(POSITIONS)}")
        if blocks not in BLOCKS:
            raise ValueError(f"blocks {blocks!r} is invalid; allowed: {', '.join(BLOCKS)}")
        canonical = spec.canonical_hparams(hparams or {})
        if attention == "none":  # placement is meaningless without a module
            position, blocks = "pre_add", "all"
        return cls(attention, _freeze(canonical), position, blocks)  # type: ignore[arg-type]

    def short(self) -> str:
        """Compact form such as ``se(r=16)``, ``gc(ratio=0.25,mul)@post``."""
        from models.attention import get_attention_spec

        if self.attention == "none":
            return "none"
        spec = get_attention_spec(self.attention)
        parts = []
        for k, v in self.hparams:
            if isinstance(v, str) and v != "auto":  # a named option reads alone: "mul"
                parts.append(v)
            else:
                parts.append(f"{spec.hparam(k).short}={v:g}" if isinstance(v, float)
                             else f"{spec.hparam(k).short}={v}")
        text = f"{self.attention}({','.join(parts)})" if parts else self.attention
        if self.position != "pre_add":
            text += "@post"
        if self.blocks != "all":
            text += f"[{self.blocks}]"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "attention": self.attention,
            "hparams": dict(self.hparams),
            "position": self.position,
            "blocks": self.blocks,
        }


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
    """

    backbone: str
    backbone_args: tuple[tuple[str, Any], ...]
    stages: tuple[StageChoice, ...]
    in_channels: int
    input_size: int
    num_classes: int

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
    ) -> Architecture:
        return cls(backbone, tuple(sorted(backbone_args.items())), tuple(stages),
                   in_channels, input_size, num_classes)

    def without_attention(self) -> Architecture:
        """The same backbone and input with ``none`` in every stage (the latency baseline)."""
        return Architecture(self.backbone, self.backbone_args,
                            tuple(StageChoice() for _ in self.stages),
                            self.in_channels, self.input_size, self.num_classes)

    def short(self) -> str:
        """Per-stage choices joined by ``|``, e.g. ``se(r=16)|eca(k=3)|none``."""
        return "|".join(s.short() for s in self.stages)

    def key(self) -> str:
        """Canonical string of everything that defines the model (de-dup key)."""
        args = ",".join(f"{k}={v}" for k, v in self.backbone_args)
        return (f"{self.backbone}({args})/{self.in_channels}x{self.input_size}"
                f"->{self.num_classes}/{self.short()}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "backbone": {"name": self.backbone, **dict(self.backbone_args)},
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
        allowed = {"backbone", "input", "num_classes", "stages"}
        unknown = set(data) - allowed
        missing = allowed - set(data)
        if unknown or missing:
            raise ValueError(
                f"architecture keys must be {sorted(allowed)}; "
                f"unknown: {sorted(unknown)}, missing: {sorted(missing)}"
            )
        backbone = dict(data["backbone"])
        name = backbone.pop("name")
        stages = []
        for i, s in enumerate(data["stages"]):
            extra = set(s) - {"attention", "hparams", "position", "blocks"}
            if extra:
                raise ValueError(f"stages[{i}]: unknown keys {sorted(extra)}")
            try:
                stages.append(StageChoice.create(
                    s.get("attention", "none"), s.get("hparams") or {},
                    position=s.get("position", "pre_add"), blocks=s.get("blocks", "all"),
                ))
            except ValueError as e:
                raise ValueError(f"stages[{i}]: {e}") from None
        return cls.create(
            backbone=name,
            backbone_args=backbone,
            stages=stages,
            in_channels=int(data["input"]["channels"]),
            input_size=int(data["input"]["size"]),
            num_classes=int(data["num_classes"]),
        )
