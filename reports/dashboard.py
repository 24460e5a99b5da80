"""A self-contained Plotly dashboard of a study.

    python -m reports.dashboard --study NAME [--storage URL] [--out FILE]

One HTML file, plotly.js embedded (opens offline): a header (space, backbone,
dataset, budget, device, trials by state, compute time); the Pareto front;
hypervolume over trials; what each stage wants (accuracy and latency by
attention type); hyper-parameter importance per objective; latency against
FLOPs and params; a trial timeline; the proxy-fidelity check when it has run;
and a sortable table of the Pareto architectures with their exact configs.
The values behind each figure come from ``reports.figure_data`` (tested without a
browser) and are drawn by ``reports.figures``; this module lays out the page: header,
figures, table.
"""

from __future__ import annotations

import html
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import optuna
import plotly.graph_objects as go
import yaml

from reports._fidelity import fidelity_data, fidelity_figure
from reports._prediction import prediction_data, prediction_figure
from reports.describe import describe_backbone, describe_budget, describe_data, describe_latency
from reports.figure_data import (
    FrontData,
    front_data,
    hypervolume_data,
    importance_data,
    stage_data,
    timeline_data,
    total_compute_seconds,
)
from reports.figures import (
    cost_figure,
    front_figure,
    hypervolume_figure,
    importance_figure,
    stage_figure,
    timeline_figure,
)
from reports.rungs import rung_data, rung_figure, rung_summary
from spaces import FORMAT_VERSION
from studies import StudyClaims, StudyRecord, TrialRecord, records
from studies.cli import run_on_study, study_parser

_SORT_JS = """
<script>
function sortTable(col) {
  const t = document.getElementById('front-table');
  const rows = [...t.tBodies[0].rows];
  const asc = t.dataset.col == col && t.dataset.dir != 'asc';
  t.dataset.col = col; t.dataset.dir = asc ? 'asc' : 'desc';
  rows.sort((a, b) => {
    const x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
    const nx = parseFloat(x), ny = parseFloat(y);
    const c = isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny;
    return asc ? c : -c;
  });
  rows.forEach(r => t.tBodies[0].appendChild(r));
}
</script>"""


def _predicted_cell(t: TrialRecord) -> tuple[Any, str]:
    if t.predicted_latency_ms is None:
        return "", "—"
    return t.predicted_latency_ms, f"{t.predicted_latency_ms:.3f}"


def _table(study: optuna.Study, data: FrontData) -> str:
    trials = {r.number: r for r in records(study)}
    front = [trials[p.number] for p in data.front]
    predicted_only = any(t.latency_record.is_predicted for t in front)
    # a latency profile beside timed latency: both, side by side
    both = not predicted_only and any(t.predicted_latency_ms is not None for t in front)
    head = "".join(f"<th onclick='sortTable({i})'>{h} ⇅</th>" for i, h in enumerate(
        ("trial", "architecture", "accuracy (mean)", "interval", "seeds", "vs no attention",
         "latency ms (predicted)" if predicted_only else "latency ms",
         *(["predicted ms (profile)"] * both), "params", "FLOPs")))
    claims = {c.number: c for c in data.claims.claims} if data.claims is not None else {}
    body = ""
    for p in data.front:
        c = claims.get(p.number)
        interval = (f"[{c.interval[0]:.4f}, {c.interval[1]:.4f}]" if c is not None and c.interval
                    else "—")
        arch = dict(trials[p.number].arch or {})
        config = html.escape(yaml.safe_dump({"format_version": FORMAT_VERSION, "architecture": arch},
                                            sort_keys=False))
        cells = [(p.number, str(p.number)),
                 (p.arch, f"<code>{html.escape(p.arch)}</code><details><summary>config "
                  f"(python -m search.export --pick trial={p.number})</summary><pre>{config}"
                  "</pre></details>"),
                 (p.accuracy, f"{p.accuracy:.4f}"),
                 (c.interval[0] if c is not None and c.interval else "", interval),
                 (p.seeds, str(p.seeds)),
                 (c.diff if c is not None and c.diff is not None else "", html.escape(p.verdict)),
                 (p.latency_ms, f"{p.latency_ms:.3f}"),
                 *([_predicted_cell(trials[p.number])] * both),
                 (p.costs.get("params", 0), f"{int(p.costs.get('params', 0)):,}"),
                 (p.costs.get("flops", 0), f"{int(p.costs.get('flops', 0)):,}")]
        body += "<tr>" + "".join(f"<td data-v='{html.escape(str(v))}'>{h}</td>"
                                 for v, h in cells) + "</tr>"
    return (f"<table id='front-table'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>{_SORT_JS}")




def _settings(info: StudyRecord) -> str:
    """The stored space's settings in words, read back typed (a space this version's schema
    refuses raises ``SpaceError``, as the claims do: the command's one message, not a guess)."""
    cfg = info.config
    if cfg is None:
        return "<li>settings: not recorded (the run stopped before it stored its space)</li>"
    confirm = cfg.confirm
    seeds = (f"{cfg.search.seeds} seed(s) per architecture during the search; "
             + (f"front and reference confirmed with {confirm.seeds} paired seeds" if confirm
                else "no confirmation"))
    sizes = tuple(info.data_sizes) if info.data_sizes else None
    return (f"<li>{html.escape(describe_backbone(cfg.backbone))} on "
            f"{html.escape(describe_data(cfg.dataset, sizes))}</li>"
            f"<li>proxy training: {html.escape(describe_budget(cfg.budget))}, on "
            f"{html.escape(str(info.device or '?').upper())}; {html.escape(seeds)}</li>"
            f"<li>objectives: {html.escape(', '.join(info.objectives))}; "
            f"{html.escape(describe_latency(cfg.latency, info.latency_profile))}</li>")


def _header(study: optuna.Study, data: FrontData) -> str:
    info = StudyRecord.of(study)
    counts = ", ".join(f"{k}: {v}" for k, v in data.counts.items() if v) or "none yet"
    compute = timedelta(seconds=round(total_compute_seconds(study)))
    claims = data.claims
    verdict = claims.verdict if claims is not None else ""
    todo = f"<p class='action'><b>{html.escape(claims.action)}</b></p>" if claims is not None else ""
    warn = (f"<p class='warning'><b>{html.escape(claims.warning)}</b></p>"
            if claims is not None and claims.warning else "")
    classes = (f"<li>{claims.num_classes} classes: chance accuracy {1 / claims.num_classes:.4f}</li>"
               if claims is not None and claims.num_classes else "")
    return (f"<h1>attnas — {html.escape(study.study_name)}</h1>{todo}{warn}"
            f"<p class='verdict'>{html.escape(verdict)}</p><ul>{classes}"
            f"<li>space: <code>{html.escape(str(info.space_path or '?'))}</code> "
            f"(sha256 {html.escape(str(info.space_sha256 or '?')[:12])})</li>"
            f"{_settings(info)}"
            f"<li>trials — {html.escape(counts)}; total compute {compute}</li>"
            f"<li>written {datetime.now().isoformat(timespec='seconds')}</li></ul>")


def _div(fig: go.Figure, div_id: str, first: bool) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=first, div_id=div_id)


def render_dashboard(study: optuna.Study, *, claims: StudyClaims | None = None) -> str:
    """The dashboard as one HTML document with plotly.js embedded."""
    fdata = front_data(study, claims=claims)
    parts = [_header(study, fdata)]
    if not any(p.kind != "infeasible" for p in fdata.points):
        parts.append("<p class='empty'><b>No complete trial yet:</b> the figures appear once a "
                     "trial finishes (infeasible trials are listed in trials.csv).</p>")
    else:
        notes: list[str] = []
        figures = [("pareto-front", front_figure(fdata))]
        for cost in fdata.objectives:
            # latency_ratio is drawn by the first figure, in ms through the study's scale
            if cost not in ("accuracy", "latency_ms", "latency_ratio"):
                figures.append((f"pareto-{cost}", front_figure(fdata, cost)))
        hv = hypervolume_data(study)
        if hv:
            figures.append(("hypervolume", hypervolume_figure(hv)))
        figures.append(("stages", stage_figure(stage_data(study, claims=fdata.claims))))
        imp = importance_data(study)
        if imp:
            figures.append(("importance", importance_figure(imp)))
        else:
            notes.append("Hyper-parameter importance appears once the study has at least 4 "
                         "complete distinct trials.")
        figures += [("costs", cost_figure(fdata)), ("timeline", timeline_figure(timeline_data(study)))]
        rungs = rung_data(study)
        if rungs:
            figures.append(("rungs", rung_figure(rungs)))
        pred = prediction_data(study)
        if pred:
            figures.append(("latency-prediction", prediction_figure(pred)))
        fid = fidelity_data(study)
        if fid:
            figures.append(("fidelity", fidelity_figure(fid)))
        parts += [_div(f, div_id, i == 0) for i, (div_id, f) in enumerate(figures)]
        parts += [f"<p class='note'>{html.escape(n)}</p>" for n in notes]
        if not fid:
            parts.append("<p>Proxy fidelity not measured yet: run <code>python -m search.fidelity "
                         f"--study {html.escape(study.study_name)}</code>.</p>")
        parts.append("<h2>Pareto architectures</h2>" + _table(study, fdata))
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>attnas: {html.escape(study.study_name)}</title><style>"
            "body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
            "vertical-align:top}th{cursor:pointer;background:#f4f4f4}pre{margin:0}"
            ".verdict{font-size:1.15em;padding:.6em;background:#f6f8fa;border-left:4px solid #444}"
            ".action{font-size:1.3em;padding:.6em;background:#eef6ee;border-left:4px solid #2ca02c}"
            ".warning{font-size:1.15em;padding:.6em;background:#fff4e5;border-left:4px solid #d62728}"
            f"</style></head><body>{''.join(parts)}</body></html>")


def rung_lines(study: optuna.Study) -> list[str]:
    """What the rungs did, for the terminal after a search (``reports.rungs.rung_summary``);
    nothing for a single-fidelity study."""
    data = rung_data(study)
    return rung_summary(data) if data else []


def write_dashboard(study: optuna.Study, path: Path, *, claims: StudyClaims | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_dashboard(study, claims=claims), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = study_parser("python -m reports.dashboard", "Write a study's dashboard.html")
    parser.add_argument("--out", default=None, help="default: runs/<study>/dashboard.html")
    args = parser.parse_args(argv)

    def dashboard(study: optuna.Study) -> int:
        print(f"wrote {write_dashboard(study, Path(args.out or f'runs/{args.study}/dashboard.html'))}")
        return 0

    return run_on_study(args, dashboard)


if __name__ == "__main__":
    sys.exit(main())
