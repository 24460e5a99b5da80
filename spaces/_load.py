"""Loading and validating a space file into a frozen ``SearchSpace``.

Every problem of a file is collected and reported at once in one
``SpaceError``; each line names the file, the key path
(``stages.all.attention.se.reduction[1]``), the value received and what is
allowed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from spaces._checks import check_fidelity, check_freeze, check_metrics, resolve_stages
from spaces._datasets import FOLDER, dataset_info
from spaces._errors import validate_what_can_be
from spaces._files import SpaceError, read_yaml, resolve_space_path
from spaces._types import Catalog, Pretrained, SearchSpace


def load_space(space: str | Path, *, catalog: Catalog,
               overrides: Mapping[str, object] | None = None) -> SearchSpace:
    """Load, validate and resolve a space file.

    Args:
        space: A path, or a bare name of a bundled space (``attention.yaml``).
        catalog: What the model registry allows.
        overrides: Settings that replace the file's, by dotted key (``{"budget.epochs": 1}``:
            ``search.run --epochs``), validated as the file's own values are and part of the
            space's sha256, so a study resumes only with the same ones.

    Returns:
        The frozen ``SearchSpace``.

    Raises:
        SpaceError: missing file, invalid YAML, or any schema or registry
            problem; the message lists them all.

    Example:
        >>> load_space("attention.yaml", catalog=model_catalog())
    """
    path = resolve_space_path(space)
    try:
        raw = read_yaml(path, what="space file")
    except (OSError, ValueError) as e:
        raise SpaceError(str(e)) from None
    if not isinstance(raw, dict):
        raise SpaceError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    problems: list[str] = []
    for key, value in (overrides or {}).items():
        _override(raw, key, value, problems)
    cfg = validate_what_can_be(raw, problems)
    if cfg is not None:
        check_metrics(cfg, problems)
        check_fidelity(cfg, problems)
        stages = resolve_stages(cfg, catalog, problems)
        weights = _weights(cfg, catalog, problems)
        check_freeze(cfg, catalog, problems)
    problems = list(dict.fromkeys(problems))  # `all` is resolved once per stage
    if problems:
        listing = "\n".join(f"  - {p}" for p in problems)
        given = "".join(f"\n  (from the command line: {k} = {v!r})" for k, v in (overrides or {}).items())
        raise SpaceError(f"{path}: {len(problems)} problem(s):\n{listing}{given}")
    # what the space means: its validated settings, so that comments, layout and key order do not
    # count; the file's bytes too (universal newlines), which studies before issue 31 recorded
    meaning = _meaning(cfg)
    if weights is not None:  # what the weights are, not where they lie
        meaning["backbone"]["weights"] = weights.sha256
    text = json.dumps(meaning, sort_keys=True, separators=(",", ":"))
    return SearchSpace(cfg, path, hashlib.sha256(text.encode()).hexdigest(), stages,
                       file_sha256=hashlib.sha256(path.read_text(encoding="utf-8").encode()).hexdigest(),
                       weights=weights)


def _weights(cfg, catalog: Catalog, problems: list[str]) -> Pretrained | None:
    """``backbone.weights`` found and checked against the backbone (``Catalog.weights``)."""
    if cfg.backbone.weights is None:
        return None
    if catalog.weights is None:
        problems.append("backbone.weights: this catalog cannot load weights")
        return None
    d = cfg.dataset  # a folder's images are read as RGB unless it says channels: 1
    channels = (d.channels or 3) if d.name == FOLDER else dataset_info(d.name).channels
    try:
        return catalog.weights(cfg.backbone.name, cfg.backbone.settings(), cfg.backbone.weights, channels)
    except ValueError as e:
        problems.append(f"backbone.weights: {e}")
        return None


# budget settings added after trainings began recording their budget (per-epoch checkpoints,
# weights files): left out of that record while at their default, so a training saved before
# one existed resumes and is recognised (budget_record)
BUDGET_ADDED_LATER: tuple[tuple[tuple[str, ...], object], ...] = (
    (("finetune", "scale_lr"), None),
)
# settings added after studies began recording the settings' sha256: left out of it while at
# their default, so a study made before they existed resumes (setting one makes another space);
# in order: a key added inside a block that was itself added later goes first
ADDED_LATER: tuple[tuple[tuple[str, ...], object], ...] = (
    *((("budget", *path), default) for path, default in BUDGET_ADDED_LATER),
    (("budget", "finetune", "freeze"), 0),
    (("budget", "erase_prob"), 0.0),
    (("budget", "finetune"), {"pretrained_lr": 0.01}),
    (("backbone", "weights"), None),
)


def _meaning(cfg) -> dict:
    return _without_defaults(cfg.model_dump(mode="json"), ADDED_LATER)


def budget_record(budget) -> dict:
    """A budget's settings as a training records them to recognise itself (checkpoint identity,
    weights files): every setting but the device; those of ``BUDGET_ADDED_LATER`` only when set."""
    return _without_defaults(budget.model_dump(mode="json", exclude={"device"}), BUDGET_ADDED_LATER)


def _without_defaults(dump: dict, added: tuple[tuple[tuple[str, ...], object], ...]) -> dict:
    for path, default in added:
        *parents, leaf = path
        node = dump
        for key in parents:
            node = node.get(key, {})
        if leaf in node and node[leaf] == default:
            del node[leaf]
    return dump


def _override(raw: dict, key: str, value: object, problems: list[str]) -> None:
    """Set dotted ``key`` of the raw file to ``value`` (the schema validates it afterwards)."""
    *parents, leaf = key.split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            problems.append(f"{key}: the file's {part} is not a mapping, so {leaf} cannot be set")
            return
    node[leaf] = value
