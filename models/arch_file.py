"""The architecture file (``best.yaml``): one document, dumped and loaded here.

``architecture_document`` is the file's frame -- ``format_version`` and the architecture --
with whatever sections the writer adds (``search.export`` adds the claims and where the
architecture came from); ``write_architecture`` writes it, ``load_architecture`` reads it
back, refusing a file of a newer format or an unknown module or setting; ``searched_budget``
reads the proxy budget the architecture was searched with (``source.budget``), typed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from models.architecture import Architecture
from models.backbones import get_backbone_spec
from spaces import FORMAT_VERSION, BudgetConfig, read_back, read_yaml


def architecture_document(arch: Architecture, **sections: Any) -> dict[str, Any]:
    """The file's content for ``arch``: ``format_version``, ``architecture``, then ``sections``
    in the order given."""
    return {"format_version": FORMAT_VERSION, "architecture": arch.to_dict(), **sections}


def write_architecture(path: Path, arch: Architecture, **sections: Any) -> Path:
    """Write ``architecture_document(arch, **sections)`` to ``path`` (its folder made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(architecture_document(arch, **sections), sort_keys=False,
                                   allow_unicode=True))
    return path


def load_architecture(path: str | Path) -> Architecture:
    """Read an architecture from an exported YAML file (``best.yaml``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an architecture file, a newer format version, or an
            unknown module or setting.
    """
    path = Path(path)
    data = read_yaml(path, what="architecture file")
    if not isinstance(data, dict) or "architecture" not in data:
        raise ValueError(f"{path}: not an attnas architecture file (no 'architecture' key)")
    version = data.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(
            f"{path}: format_version {version!r} is not supported; this attnas reads "
            f"versions 1..{FORMAT_VERSION}"
        )
    try:
        arch = Architecture.from_dict(data["architecture"])
        spec = get_backbone_spec(arch.backbone)
        settings = spec.canonical_settings(dict(arch.backbone_args))
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: {e}") from None
    # the file may leave settings out: the architecture carries them with their defaults
    return dataclasses.replace(arch, backbone_args=tuple(sorted(settings.items())))


def searched_budget(path: str | Path) -> tuple[BudgetConfig, frozenset[str]] | None:
    """The budget ``path``'s architecture was searched with (``search.export``'s
    ``source.budget``), validated, and the settings the file holds (a file from an older
    version holds fewer; keys this version does not know are ignored); None for a file without
    one (written by hand, or by ``write_architecture`` alone).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not YAML, or a budget value this version refuses (``spaces.SpaceError``).
    """
    doc = read_yaml(Path(path), what="architecture file")
    source = doc.get("source") if isinstance(doc, dict) else None
    stored = source.get("budget") if isinstance(source, dict) else None
    if not isinstance(stored, dict):
        return None
    budget = read_back(BudgetConfig, stored, what=f"{path}: source.budget")
    return budget, frozenset(budget.model_fields_set)
