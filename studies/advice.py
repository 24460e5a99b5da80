"""What a person does with a study's result: one sentence to act on, and a warning when the run
cannot mean anything (``studies.claims.study_claims`` puts both in ``StudyClaims``).

- ``placement_words("none|none|se(r=4)[last]", ("stage1", "stage2", "stage3"))`` is
  ``"SE (r=4) in the last block of stage3"``.
- ``run_warning``: the plain backbone's accuracy within ``CHANCE_MARGIN`` of chance (1 /
  classes), or its seeds spread by more than ``SPREAD_FRACTION`` of its distance from chance
  (standard deviation over seeds): a proxy that has not learnt, whose ranking is noise.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence

CHANCE_MARGIN = 0.05  # 5 points above chance
SPREAD_FRACTION = 0.2

_PART = re.compile(r"^(?P<name>[a-z_0-9]+)(?:\((?P<args>[^)]*)\))?(?P<pos>@post|@dw)?(?:\[(?P<blocks>[^]]+)\])?$")
_POSITION = {"@post": " after the residual add", "@dw": " after the depthwise convolution"}


def _stage_words(part: str, stage: str) -> str:
    """One stage's choice (``Architecture.short``'s part) in words."""
    attention, *convs = part.split("+")
    words = []
    m = _PART.match(attention)
    if attention != "none":
        if m is None:  # a form this does not know: say it as written
            words.append(f"{attention} in {stage}")
        else:
            args = f" ({m['args']})" if m["args"] else ""
            blocks = m["blocks"] or "all"
            where = ("every block" if blocks == "all" else "the last block" if blocks == "last"
                     else f"blocks {blocks}")
            words.append(f"{m['name'].upper()}{args}{_POSITION.get(m['pos'] or '', '')} in {where} of {stage}")
    for conv in convs:
        c = _PART.match(conv)
        name = f"{c['name']} ({c['args']})" if c is not None and c["args"] else conv
        words.append(f"{name} convolutions in {stage}")
    return "; ".join(words)


def placement_words(arch_short: str, stage_names: Sequence[str] = ()) -> str:
    """Where an architecture puts attention, in words; ``"no attention"`` for the plain one."""
    parts = arch_short.split("|")
    names = [stage_names[i] if i < len(stage_names) else f"stage {i + 1}" for i in range(len(parts))]
    words = [w for p, n in zip(parts, names, strict=True) if p != "none" and (w := _stage_words(p, n))]
    return "; ".join(words) or "no attention"


def run_warning(accuracies: Mapping[int, float] | None, num_classes: int | None) -> str | None:
    """Why the study's ranking cannot mean anything, naming the numbers and what to raise; None
    when the plain backbone learnt (``accuracies``: its accuracy per seed)."""
    if not accuracies or not num_classes:
        return None
    chance = 1 / num_classes
    mean = statistics.fmean(accuracies.values())
    raise_ = "raise budget.epochs or dataset.train_subset (or use an easier, smaller problem first)"
    if mean - chance < CHANCE_MARGIN:
        return (f"Warning: the plain backbone reached {mean:.4f}, within {100 * CHANCE_MARGIN:.0f} points "
                f"of chance ({chance:.4f} for {num_classes} classes): the proxy has not learnt, so no "
                f"ranking here means anything; {raise_}.")
    if len(accuracies) >= 2:
        std = statistics.stdev(accuracies.values())
        if std > SPREAD_FRACTION * (mean - chance):
            seeds = " / ".join(f"{a:.3f}" for a in accuracies.values())
            return (f"Warning: the plain backbone's seeds ({seeds}) spread by {100 * std:.1f} points "
                    f"(std), more than {100 * SPREAD_FRACTION:.0f}% of its {100 * (mean - chance):.1f} "
                    f"points above chance ({chance:.4f} for {num_classes} classes): the proxy training is "
                    f"unstable, so its ranking is mostly noise; {raise_}.")
    return None


def action(*, confirmed: bool, has_reference: bool, best: tuple[str, float, tuple[float, float],
           float | None] | None, detectable: float | None, warning: str | None,
           stage_names: Sequence[str] = ()) -> str:
    """The result in words a person acts on. ``best``: the front's best "better" claim as
    ``(arch_short, diff, diff_interval, latency_ratio)``; ``detectable``: in accuracy units."""
    if warning is not None:
        return "No recommendation: this run's proxy did not learn enough to rank anything (see the warning)."
    if not has_reference:
        return "No recommendation: the study has no no-attention reference to compare with."
    if not confirmed:
        return "No recommendation yet: the front is not confirmed with paired seeds."
    if best is None:
        can = (f" by more than the {100 * detectable:.1f} points this budget can detect"
               if detectable is not None else " beyond noise")
        return f"Use no attention: no placement on the front beat the plain backbone{can}."
    short, diff, (lo, hi), ratio = best
    cost = f" at {ratio:.2f}x latency" if ratio is not None else ""
    words = placement_words(short, stage_names)
    return f"Put {words}: {100 * diff:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}]{cost}."
