"""What a study holds and what it can claim: torch-free, above only ``spaces`` and ``stats``.

- ``studies.record``: the typed record of a trial and of the study, the only
  spelling of every attribute key, and the predicates (``is_original``, ...);
- ``studies.storage``: storage URLs and opening a study by name;
- ``studies.pareto``: non-dominated points and the knee;
- ``studies.claims``: means, intervals, paired verdicts and the front the
  reports present; the ``--pick`` rules (the statistics themselves are ``stats``);
- ``studies.cli``: the ``--study``/``--storage`` face of commands on a study.

``search`` (which writes studies) and ``reports`` (which reads them) both sit
above this package; it imports neither, nor torch.
"""

from studies.claims import (
    Claim,
    StudyClaims,
    latency_scale_ms,
    pick_claim,
    study_claims,
)
from studies.pareto import (
    PickError,
    hypervolume_2d,
    knee,
    non_dominated,
    promotion_order,
    study_directions,
)
from studies.record import (
    REFERENCE_LABEL,
    Confirmation,
    StudyRecord,
    TrialRecord,
    confirmations,
    records,
    trial_attrs,
    trial_is_duplicate,
    trial_promoted_from,
    trial_rung,
    write_confirmation,
    write_study,
    write_trial,
)
from studies.storage import (
    StorageUnavailable,
    StudyNotFound,
    default_storage,
    load_existing_study,
    make_storage,
)
from studies.stored import FidelityRecord, FidelityRow, LatencyRecord, StageSummary

__all__ = [
    "Claim", "Confirmation", "FidelityRecord", "FidelityRow", "LatencyRecord", "PickError",
    "REFERENCE_LABEL", "StageSummary",
    "StorageUnavailable",
    "StudyClaims", "StudyNotFound", "StudyRecord", "TrialRecord", "confirmations", "default_storage",
    "hypervolume_2d", "knee", "latency_scale_ms", "load_existing_study", "make_storage",
    "non_dominated", "pick_claim", "promotion_order", "records", "study_claims", "study_directions",
    "trial_attrs", "trial_is_duplicate", "trial_promoted_from", "trial_rung", "write_confirmation",
    "write_study", "write_trial"
]
