"""Pooling over valid (unpadded) time steps: one vector per clip from a frame sequence."""

from __future__ import annotations

import torch
from torch import nn


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over valid time steps. x: (batch, time, dim); mask: (batch, time)."""
    m = mask[:, :, None].to(x.dtype)
    return (x * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)


class AttentiveStatsPool(nn.Module):
    """Attention-weighted mean and std over valid frames: (b, t, d) -> (b, 2d)."""

    def __init__(self, d: int, hidden: int = 128) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(d, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        s = self.score(x).squeeze(-1).masked_fill(~mask, -torch.inf)  # (b, t)
        a = torch.softmax(s, dim=1)[:, :, None]
        mean = (a * x).sum(dim=1)
        var = (a * (x - mean[:, None]) ** 2).sum(dim=1)
        return torch.cat([mean, torch.sqrt(var.clamp(min=1e-6))], dim=1)


def layer_stats(states: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
    """Mean and std over valid frames of each state: list of (b, t, d) -> (b, layers, 2d)."""
    out = []
    for s in states:
        mean = masked_mean(s, mask)
        var = masked_mean((s - mean[:, None]) ** 2, mask)
        out.append(torch.cat([mean, torch.sqrt(var.clamp(min=1e-8))], dim=1))
    return torch.stack(out, dim=1)
