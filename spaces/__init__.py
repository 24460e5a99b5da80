"""Search spaces: the YAML schema, loading and validation, and the bundled spaces.

Never imports torch: registry-dependent checks read a ``Catalog`` that the
caller builds from ``models`` (``search.catalog.model_catalog``).
"""

from __future__ import annotations

from spaces._files import FORMAT_VERSION, SPACES_DIR, SpaceError, read_yaml, resolve_space_path
from spaces._load import (
    BackboneFacts,
    Catalog,
    ModuleChoices,
    SearchSpace,
    StageFacts,
    StageSpace,
    load_space,
)
from spaces._schema import METRICS, SEED_MAX, SpaceConfig, parse_duration

__all__ = ["FORMAT_VERSION", "METRICS", "SEED_MAX", "SPACES_DIR", "BackboneFacts", "Catalog", "ModuleChoices",
           "SearchSpace", "SpaceConfig", "SpaceError", "StageFacts", "StageSpace", "load_space",
           "parse_duration", "read_yaml", "resolve_space_path"]
