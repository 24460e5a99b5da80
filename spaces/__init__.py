"""Search spaces: the YAML schema, loading and validation, and the bundled spaces.

Never imports torch: registry-dependent checks read a ``Catalog`` that the
caller builds from ``models`` (``runners.catalog.model_catalog``).
"""

from __future__ import annotations

from spaces._checks import fits_positions, learn_from_problem
from spaces._datasets import (
    DATASETS,
    DEFAULT_DATASET,
    FOLDER,
    FOLDER_FLIP,
    FOLDER_IMAGE_SIZE,
    IMAGE_EXTENSIONS,
    DatasetInfo,
    dataset_info,
    held_out,
    list_image_folder,
)
from spaces._errors import did_you_mean, read_back
from spaces._files import FORMAT_VERSION, SPACES_DIR, SpaceError, read_yaml, resolve_space_path
from spaces._help import DefaultsOnce
from spaces._load import budget_record, load_space
from spaces._samplers import SAMPLER_TABLE, SAMPLERS, SamplerInfo, sampler_info
from spaces._schema import (
    BLOCKS,
    METRICS,
    POSITIONS,
    SEED_MAX,
    TRAIN_DEVICES,
    BackboneConfig,
    Blocks,
    BudgetConfig,
    ConfirmConfig,
    DatasetConfig,
    LatencyConfig,
    Position,
    SearchConfig,
    SpaceConfig,
    parse_duration,
)
from spaces._types import (
    BackboneFacts,
    Catalog,
    ModuleChoices,
    Pretrained,
    SearchSpace,
    StageFacts,
    StageSpace,
)

__all__ = [
    "BLOCKS", "DATASETS", "DEFAULT_DATASET", "FOLDER", "FOLDER_FLIP", "FOLDER_IMAGE_SIZE",
    "FORMAT_VERSION", "IMAGE_EXTENSIONS", "METRICS", "POSITIONS", "SAMPLERS", "SAMPLER_TABLE",
    "SEED_MAX", "SPACES_DIR", "TRAIN_DEVICES", "BackboneConfig", "BackboneFacts", "Blocks",
    "BudgetConfig", "Catalog",
    "ConfirmConfig", "DatasetConfig", "DefaultsOnce", "DatasetInfo", "LatencyConfig", "ModuleChoices",
    "Position",
    "Pretrained", "SamplerInfo", "SearchConfig", "SearchSpace", "SpaceConfig", "SpaceError",
    "StageFacts", "StageSpace", "budget_record", "dataset_info", "did_you_mean", "fits_positions", "held_out",
    "learn_from_problem", "list_image_folder", "load_space", "parse_duration", "read_back", "read_yaml",
    "resolve_space_path", "sampler_info"
]
