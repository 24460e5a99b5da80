"""Per-stage convolution choices (``standard``, ``odconv``) and their registry.

Importing this package registers every convolution.
"""

from __future__ import annotations

from models.convs import odconv  # noqa: F401  (registers)
from models.convs._registry import (
    ConvSpec,
    conv_catalog,
    conv_names,
    create_conv,
    get_conv_spec,
    register_conv,
)

__all__ = ["ConvSpec", "conv_catalog", "conv_names", "create_conv", "get_conv_spec",
           "register_conv"]
