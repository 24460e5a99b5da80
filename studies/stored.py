"""Typed views of the mappings a trial or a study stores inside one attribute: a trial's
latency, its architecture's stages, the study's fidelity check. ``studies.record`` reads them
through these (``TrialRecord.latency_record``, ``TrialRecord.stages``,
``StudyRecord.fidelity_record``), so no module indexes a stored mapping by a string."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class LatencyRecord:
    """How a trial's latency was obtained: the typed view of ``TrialRecord.latency``, which
    stores ``runners.measure.Latency.to_dict()`` with ``source: measured`` and the timed
    ``input_size``, or a latency profile's prediction (``source: predicted``). The fields read
    outside this module; the stored mapping keeps the rest (quantiles, spread) for export."""

    source: str | None = None  # "measured", "predicted", or None when nothing was recorded
    median_ms: float | None = None
    baseline_median_ms: float | None = None  # the plain backbone timed beside it (or profiled)
    input_size: int | None = None
    batch_size: int | None = None
    device: str | None = None

    @property
    def is_predicted(self) -> bool:
        return self.source == "predicted"

    @property
    def is_measured(self) -> bool:
        return self.source == "measured"

    @classmethod
    def of(cls, stored: Mapping[str, Any] | None) -> LatencyRecord:
        return cls(**{f.name: stored[f.name] for f in fields(cls) if f.name in (stored or {})})


@dataclass(frozen=True)
class FidelityRow:
    """One architecture of a fidelity check: its search trial, and both accuracies."""

    trial: int
    arch: str  # Architecture.short()
    reference: str | None
    proxy_accuracy: float
    long_accuracy: float


@dataclass(frozen=True)
class FidelityRecord:
    """What ``search.fidelity`` measured and stored (``StudyRecord.fidelity_record``): the
    proxy's rank agreement with a longer training, and one architecture's seed spread."""

    epochs: float
    train_images: int
    val_images: int
    kendall_tau: float
    spearman_rho: float
    rows: tuple[FidelityRow, ...]
    spread_trial: int  # the architecture retrained with several seeds (the knee)
    spread_arch: str
    spread_seeds: tuple[int, ...]
    spread_accuracies: tuple[float, ...]
    spread_std: float

    def to_dict(self) -> dict[str, Any]:
        """As stored (the study attribute's JSON; the layout studies have held since issue 4)."""
        return {"epochs": self.epochs, "train_images": self.train_images, "val_images": self.val_images,
                "kendall_tau": self.kendall_tau, "spearman_rho": self.spearman_rho,
                "rows": [asdict(r) for r in self.rows],
                "seed_spread": {"trial": self.spread_trial, "arch": self.spread_arch,
                                "seeds": list(self.spread_seeds),
                                "accuracies": list(self.spread_accuracies), "std": self.spread_std}}

    @classmethod
    def of(cls, stored: Mapping[str, Any]) -> FidelityRecord:
        s = stored["seed_spread"]
        return cls(stored["epochs"], stored["train_images"], stored["val_images"],
                   stored["kendall_tau"], stored["spearman_rho"],
                   tuple(FidelityRow(r["trial"], r["arch"], r.get("reference"), r["proxy_accuracy"],
                                     r["long_accuracy"]) for r in stored["rows"]),
                   s["trial"], s["arch"], tuple(s["seeds"]), tuple(s["accuracies"]), s["std"])


@dataclass(frozen=True)
class StageSummary:
    """One stage of a stored architecture (``models.Architecture.to_dict()``'s ``stages``) as a
    report needs it: the attention module and the convolution, by name."""

    attention: str
    conv: str = "standard"

    def label(self) -> str:
        """``se``, or ``se+odconv`` where the convolution is not the standard one."""
        return self.attention if self.conv == "standard" else f"{self.attention}+{self.conv}"
