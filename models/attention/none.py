"""No attention: the identity, so that "none" is an ordinary registry entry."""

from __future__ import annotations

from torch import Tensor, nn

from models.attention._registry import register_attention


@register_attention(
    "none",
    paper="(no attention)",
    url="",
    params_formula="0",
    placement="—",
)
class NoAttention(nn.Module):
    """Returns its input unchanged."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, x: Tensor) -> Tensor:
        return x
