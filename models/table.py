"""The README's tables of modules, convolutions and backbones, generated from the registries.

    python -m models.table   # prints the Markdown

``tests/models/test_readme.py`` fails when the README's copy differs.
"""

from __future__ import annotations

from models.attention import attention_names, get_attention_spec
from models.backbones import backbone_names, get_backbone_spec
from models.convs import conv_names, get_conv_spec


def _hparams(spec) -> str:
    return "; ".join(f"`{h.name}`: {h.domain.describe()} (default {h.default!r})"
                     for h in spec.hparams) or "—"


def _paper(spec) -> str:
    return f"[{spec.paper}]({spec.url})" if spec.url else spec.paper


def module_table() -> str:
    lines = ["| module | paper | hyper-parameters (allowed; paper default) | parameters | placed |",
             "|---|---|---|---|---|"]
    for name in attention_names():
        spec = get_attention_spec(name)
        lines.append(f"| `{name}` | {_paper(spec)} | {_hparams(spec)} | `{spec.params_formula}` "
                     f"| {spec.placement} |")
    return "\n".join(lines)


def conv_table() -> str:
    lines = ["| conv | paper | hyper-parameters (allowed; paper default) | parameters |",
             "|---|---|---|---|"]
    for name in conv_names():
        spec = get_conv_spec(name)
        lines.append(f"| `{name}` | {_paper(spec)} | {_hparams(spec)} | `{spec.params_formula}` |")
    return "\n".join(lines)


def backbone_table(input_size: int = 28) -> str:
    lines = [f"| backbone | settings (default) | stages at {input_size} px: name channels@side x blocks "
             "| positions | conv choice |",
             "|---|---|---|---|---|"]
    for name in backbone_names():
        spec = get_backbone_spec(name)
        stages = spec.stages(spec.canonical_settings({}), input_size)
        text = ", ".join(f"{s.name} {s.channels}@{s.resolution} x{s.blocks}" for s in stages)
        settings = "; ".join(f"`{h.name}`: {h.domain.describe()} ({h.default!r})" for h in spec.settings)
        lines.append(f"| `{name}` — {spec.doc} | {settings} | {text} | "
                     f"{', '.join(spec.positions)} | {'yes' if spec.convs else 'no (depthwise)'} |")
    return "\n".join(lines)


def markdown_table() -> str:
    return "\n\n".join([module_table(), conv_table(), backbone_table()])


if __name__ == "__main__":
    print(markdown_table())
