"""The rungs section of the dashboard (multi-fidelity studies, ``search.rungs``): how many
architectures each rung saw and promoted, and accuracy at rung k against rung k + 1 with the
rank agreement between the two fidelities, computed from the study itself, beside the tau that
chance alone stays under (only the promoted architectures have both rungs: the top 1/eta of
rung k, a narrow range, so a low tau there is weaker evidence than over all of rung k)."""

from __future__ import annotations

from typing import NamedTuple

import optuna
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from stats import chance_tau, kendall_tau
from studies import TrialRecord, records


class RungPair(NamedTuple):
    rung: int  # accuracy at this rung (x) against rung + 1 (y)
    points: list[tuple[int, str, float, float]]  # rung-k trial, arch, accuracy at k, at k + 1
    kendall_tau: float  # nan with fewer than 2 points

    @property
    def chance_limit(self) -> float:
        """The |tau| that chance alone stays under at this many points; inf with too few."""
        return chance_tau(len(self.points))

    @property
    def within_chance(self) -> bool:
        """Enough promoted architectures to tell, and a tau that chance alone reaches."""
        limit = self.chance_limit
        return limit != float("inf") and abs(self.kendall_tau) < limit

    @property
    def agreement(self) -> str:
        """"tau 0.42 over 9 promoted, beyond chance" (or "within chance: below 0.56")."""
        n = len(self.points)
        if n < 2:
            return f"{n} promoted: no tau yet"
        limit = self.chance_limit
        if limit == float("inf"):
            return f"tau {self.kendall_tau:.2f} over {n} promoted: too few to tell from chance"
        word = f"within chance (|tau| < {limit:.2f})" if self.within_chance else "beyond chance"
        return f"tau {self.kendall_tau:.2f} over {n} promoted, {word}"


class RungData(NamedTuple):
    seen: list[int]  # architectures trained at each rung
    promoted: list[int]  # of those, promoted to the next rung
    pairs: list[RungPair]


def rung_data(study: optuna.Study) -> RungData | None:
    """Per rung: architectures seen and promoted, and the promoted ones' accuracy at both
    rungs; None for a single-fidelity study."""
    recs = [r for r in records(study) if r.is_original]
    if not any(r.rung is not None for r in recs):
        return None
    top = max(r.at_rung for r in recs)
    seen = [sum(1 for r in recs if r.at_rung == k) for k in range(top + 1)]
    promoted_to: dict[int, TrialRecord] = {r.promoted_from: r for r in recs if r.promoted_from is not None}
    promoted = [sum(1 for r in recs if r.at_rung == k and r.number in promoted_to)
                for k in range(top + 1)]
    pairs = []
    for k in range(top):
        pts = [(r.number, r.arch_short or "?", float(r.accuracy), float(promoted_to[r.number].accuracy))  # type: ignore[arg-type]
               for r in recs if r.at_rung == k and r.number in promoted_to]
        tau = kendall_tau([p[2] for p in pts], [p[3] for p in pts]) if len(pts) >= 2 else float("nan")
        pairs.append(RungPair(k, pts, tau))
    return RungData(seen, promoted, pairs)


def rung_summary(data: RungData) -> list[str]:
    """The rungs as the terminal tells them after a search: architectures trained and
    promoted per rung, each rung's agreement with the next, and what a rung that ranks
    within chance means for the search."""
    lines = ["rungs: " + "; ".join(f"rung {k} trained {n}, promoted {p}" for k, (n, p)
                                   in enumerate(zip(data.seen, data.promoted, strict=True)))]
    for p in data.pairs:
        lines.append(f"  rung {p.rung} against rung {p.rung + 1}: {p.agreement}")
        if p.within_chance:
            lines.append(
                f"    rung {p.rung} does not rank like rung {p.rung + 1} beyond chance in this study "
                f"(over the promoted architectures only, a narrow range): its promotions are close "
                f"to a random draw. A longer rung {p.rung} ranks better at a higher price"
                + (", and `fidelity.learn_from: highest` stops rung 0 steering the sampler once "
                   "a higher rung has enough results" if p.rung == 0 else "")
                + " (the dashboard's rungs panel; BENCHMARKS.md measures both)")
    return lines


def rung_figure(data: RungData) -> go.Figure:
    fig = make_subplots(rows=1, cols=1 + len(data.pairs), subplot_titles=(
        "architectures per rung",
        *(f"rung {p.rung} vs {p.rung + 1}: {p.agreement}" for p in data.pairs)))
    rungs = [f"rung {k}" for k in range(len(data.seen))]
    fig.add_trace(go.Bar(x=rungs, y=data.seen, name="trained"), row=1, col=1)
    fig.add_trace(go.Bar(x=rungs, y=data.promoted, name="promoted"), row=1, col=1)
    for col, p in enumerate(data.pairs, start=2):
        fig.add_trace(go.Scatter(
            x=[q[2] for q in p.points], y=[q[3] for q in p.points], mode="markers",
            hovertext=[f"trial {q[0]}<br>{q[1]}" for q in p.points], hoverinfo="text+x+y",
            showlegend=False), row=1, col=col)
        fig.update_xaxes(title_text=f"accuracy at rung {p.rung}", row=1, col=col)
        fig.update_yaxes(title_text=f"at rung {p.rung + 1}", row=1, col=col)
    fig.update_layout(title="Rungs: what each saw and promoted, and how well a rung predicts the next",
                      template="plotly_white", height=420, barmode="group")
    return fig
