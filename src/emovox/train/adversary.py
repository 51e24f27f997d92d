"""A corpus-adversarial branch (gradient reversal, Ganin & Lempitsky 2015): a small head
learns which corpus a clip's hidden vector came from while the reversed gradient teaches the
model to make that impossible, so what the emotion head reads carries less of the recording
source. Training only: the branch is not part of the saved model."""

from __future__ import annotations

import torch
from torch import nn


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: float) -> torch.Tensor:
        ctx.weight = weight
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.weight * grad, None


class CorpusAdversary(nn.Module):
    """Reads the input of ``model.head`` (the vector the emotion head reads) through a hook;
    :meth:`loss` is its corpus cross-entropy, the gradient into the model reversed and scaled
    by ``weight``."""

    def __init__(self, model: nn.Module, n_corpora: int, weight: float) -> None:
        super().__init__()
        width = (
            model.head.in_features if isinstance(model.head, nn.Linear) else model.fusion.out_dim
        )
        self.weight, self.seen = weight, None
        self.net = nn.Sequential(nn.Linear(width, 128), nn.GELU(), nn.Linear(128, n_corpora))
        model.head.register_forward_pre_hook(self._keep)

    def _keep(self, _module, args) -> None:
        self.seen = args[0]

    def loss(self, corpus: torch.Tensor) -> torch.Tensor:
        z = _Reverse.apply(self.seen, self.weight)
        return nn.functional.cross_entropy(self.net(z.float()), corpus)
