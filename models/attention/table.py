"""The README's module table, generated from the registry.

    python -m models.attention.table   # prints the Markdown table

``tests/models/test_readme.py`` fails when the README's copy differs.
"""

from __future__ import annotations

from models.attention._registry import attention_names, get_attention_spec


def markdown_table() -> str:
    lines = ["| module | paper | hyper-parameters (allowed; paper default) | parameters |",
             "|---|---|---|---|"]
    for name in attention_names():
        spec = get_attention_spec(name)
        hps = "; ".join(f"`{h.name}`: {h.domain.describe()} (default {h.default!r})"
                        for h in spec.hparams) or "—"
        paper = f"[{spec.paper}]({spec.url})" if spec.url else spec.paper
        lines.append(f"| `{name}` | {paper} | {hps} | `{spec.params_formula}` |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
