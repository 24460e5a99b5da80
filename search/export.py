"""Export one Pareto architecture of a study to a self-contained YAML file.

    python -m search.export --study NAME [--storage URL] [--pick knee] [--out FILE]
                            [--onnx best.onnx]

Without ``--out`` it writes ``runs/<study>/export-<pick>.yaml`` (``export-knee.yaml``,
``export-trial-4.yaml``, ``export-latency-le-2.5.yaml``): beside the search's own ``best.yaml``,
which it never overwrites.

The file holds a format version, the architecture (backbone and settings,
input shape, class count, every stage's choice), the metrics as measured with
the device, threads and batch they were measured with, the study name and
trial number, the space file's sha256 and the training budget. Rebuild it with
``models.build_model(models.load_architecture(path))``. ``--onnx`` also writes
the (freshly initialised) model as ONNX at batch 1 and checks that ONNX
Runtime's outputs match PyTorch's (needs the ``onnx`` extra).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import optuna
import yaml

from studies import Claim, StudyClaims, StudyRecord, TrialRecord, pick_claim, study_claims
from studies.claims import display_latency_ms
from studies.cli import run_on_study, study_parser


def _claim_document(c: Claim, level: float) -> dict[str, Any]:
    return {
        "mean": round(c.mean, 6),
        "interval": None if c.interval is None else [round(v, 6) for v in c.interval],
        "level": level,
        "seeds": c.seeds,
        "by_seed": {s: round(a, 6) for s, a in c.accuracies.items()},
        "vs_no_attention": {
            "verdict": c.verdict,
            "difference": None if c.diff is None else round(c.diff, 6),
            "interval": None if c.diff_interval is None else [round(v, 6) for v in c.diff_interval],
            "paired_seeds": c.paired_seeds,
        },
        "statement": c.verdict_text(),
    }


def export_document(study: optuna.Study, trial: TrialRecord, *, pick: str,
                    claims: StudyClaims | None = None) -> dict[str, Any]:
    """The YAML document for ``trial`` of ``study`` (with its claim: mean, interval, verdict):
    ``models.architecture_document``'s frame with the claims and the source added."""
    from models import Architecture, architecture_document  # torch: not for --help

    info = StudyRecord.of(study)
    cfg = info.config
    claims = claims or study_claims(study)
    claim = next((c for c in claims.claims if c.number == trial.number), None)
    predicted = trial.latency_record.is_predicted
    return architecture_document(
        Architecture.from_dict(trial.arch or {}), **{
        "summary": trial.arch_short,
        "action": claims.action,
        "verdict": claims.verdict,
        "warning": claims.warning,
        # the smallest paired difference to no attention the confirmation could have called
        "detectable_difference": None if claims.detectable is None else {
            "points": round(100 * claims.detectable.difference, 3),
            "paired_std_points": round(100 * claims.detectable.paired_std, 3),
            "paired_seeds": claims.detectable.seeds, "architectures": claims.detectable.architectures,
            "level": claims.level},
        "metrics": {
            "accuracy": None if claim is None else _claim_document(claim, claims.level),
            "accuracy_split": "validation (carved from the training set)",
            "latency_ratio": trial.latency_ratio,
            "latency_ms": (claim.latency_ms if claim is not None
                           else display_latency_ms(trial, claims.latency_scale_ms)),
            "latency_ms_basis": ("latency_ratio x the study's scale, the plain backbone as timed beside "
                                 f"its first timed trial ({claims.latency_scale_ms:.4f} ms)"
                                 if claims.latency_scale_ms and trial.latency_ratio is not None
                                 else "measured"),
            "latency_ms_measured": None if predicted else trial.latency_ms,
            "latency_source": "predicted" if predicted else "measured",
            # the latency on the device of the study's latency profile, beside the timing
            "predicted_latency_ms": trial.predicted_latency_ms,
            "predicted_latency_ratio": trial.predicted_latency_ratio,
            "latency_profile": None if info.latency_profile is None else {
                k: v for k, v in info.latency_profile.items() if k != "made_for"},
            "latency": None if trial.latency is None else dict(trial.latency),
            "params": trial.params,
            "flops": trial.flops,
            "latency_flops": trial.latency_flops,
            "train_seconds": trial.train_seconds,
        },
        "source": {
            "study": study.study_name,
            "trial": trial.number,
            "pick": pick,
            "space_path": info.space_path,
            "space_sha256": info.space_sha256,
            "dataset": None if cfg is None else cfg.dataset.model_dump(mode="json"),
            "budget": None if cfg is None else cfg.budget.model_dump(mode="json"),
            "seed": None if cfg is None else cfg.search.seed,
        },
    })


def export_best(study: optuna.Study, out: Path, *, pick: str = "knee",
                claims: StudyClaims | None = None) -> TrialRecord:
    """Write the architecture chosen by ``pick`` to ``out``; return its trial.

    Raises:
        PickError: the pick matches nothing (the message gives the front's range).
    """
    claims = claims or study_claims(study)
    claim = pick_claim(study, pick, claims=claims)
    trial = next(TrialRecord.of(t) for t in study.get_trials(deepcopy=False) if t.number == claim.number)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(export_document(study, trial, pick=pick, claims=claims),
                                  sort_keys=False, allow_unicode=True))
    return trial



def pick_filename(pick: str) -> str:
    """A file-name part for ``pick``: ``knee``, ``trial-4``, ``latency-le-2.5``."""
    name = pick.strip().replace("<=", "-le-").replace("=", "-")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "pick"


def main(argv: list[str] | None = None) -> int:
    parser = study_parser("python -m search.export", __doc__.split("\n")[0])
    parser.add_argument("--pick", default="knee",
                        help="knee | max-accuracy | fastest | latency<=MS | trial=N (default: knee)")
    parser.add_argument("--out", default=None,
                        help="output file (default: runs/<study>/export-<pick>.yaml, beside the "
                             "search's own best.yaml, which it never overwrites)")
    parser.add_argument("--onnx", default=None, help="also write the model as ONNX to this file")
    args = parser.parse_args(argv)
    out = Path(args.out or f"runs/{args.study}/export-{pick_filename(args.pick)}.yaml")

    def export(study: optuna.Study) -> int:
        trial = export_best(study, out, pick=args.pick)
        claim = next(c for c in study_claims(study).claims if c.number == trial.number)
        predicted = trial.latency_record.is_predicted
        also = ("" if predicted or trial.predicted_latency_ms is None else
                f" (predicted on the profiled device: {trial.predicted_latency_ms:.3f} ms)")
        print(f"wrote {out}: trial {trial.number} {claim.arch_short} acc {claim.accuracy_text()} "
              f"{claim.verdict_text()}; latency {claim.latency_ms:.3f} ms"
              f"{' predicted' if predicted else ''}{also}")
        return _write_onnx(out, Path(args.onnx)) if args.onnx else 0

    return run_on_study(args, export)


def _write_onnx(arch_path: Path, onnx_path: Path, *, atol: float = 1e-4) -> int:
    from models import build_model, load_architecture
    from runners.onnx_runtime import OnnxUnavailable, export_onnx, max_abs_difference

    arch = load_architecture(arch_path)
    shape = (1, arch.in_channels, arch.input_size, arch.input_size)
    model = build_model(arch).eval()
    try:
        export_onnx(model, shape, onnx_path)
        diff = max_abs_difference(model, onnx_path, shape)
    except OnnxUnavailable as e:  # studies.cli.run_on_study prints it and exits 2
        raise OnnxUnavailable(f"--onnx: {e}") from None
    if diff > atol:
        print(f"error: {onnx_path}: ONNX Runtime's outputs differ from PyTorch's by {diff:.2e} "
              f"(> {atol:g})", file=sys.stderr)
        return 1
    print(f"wrote {onnx_path}: input {list(shape)}; ONNX Runtime matches PyTorch "
          f"(max |diff| {diff:.1e})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
