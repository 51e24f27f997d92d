"""Training on several corpora at once: each corpus's own label set, and equal shares.

A corpus that lacks a class (ASED has no disgust, surprise or calm) must not teach the model
that its clips are "not disgust": for such a clip the loss is a softmax over the classes its
corpus has (:class:`MaskedCrossEntropy`), so the missing classes' logits get no gradient from it.
And a corpus with more clips must not set the prior: each epoch draws the same number of clips
from every corpus (:func:`balanced_order`).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
from torch import nn

from emovox.data.corpora import Manifest
from emovox.data.protocols import Split


def class_masks(manifest: Manifest, split: Split) -> dict[str, np.ndarray] | None:
    """Per corpus of the training side, which of the split's labels it has (bool, classes);
    None when every corpus has them all (a plain softmax, as with one corpus)."""
    present: dict[str, set[str]] = defaultdict(set)
    for i in split.train:
        present[manifest.rows[i].corpus].add(manifest.rows[i].emotion)
    masks = {c: np.array([lab in have for lab in split.labels]) for c, have in present.items()}
    return masks if not all(m.all() for m in masks.values()) else None


def shares(rows: list, by_class: bool = False) -> list[str]:
    """What each training clip's equal share is of: its corpus, or its corpus's class."""
    return [f"{r.corpus}/{r.emotion}" if by_class else r.corpus for r in rows]


def balanced_order(train: np.ndarray, corpora: list[str], rng: np.random.Generator) -> np.ndarray:
    """One epoch's order of ``len(train)`` clips, an equal share from each corpus (a smaller
    corpus repeats, a larger one is subsampled; each pass over a corpus is a permutation)."""
    by: dict[str, list[int]] = defaultdict(list)
    for i, c in zip(train, corpora, strict=True):
        by[c].append(int(i))
    share = int(np.ceil(len(train) / len(by)))
    parts = []
    for c in sorted(by):
        idx = np.array(by[c])
        reps = int(np.ceil(share / len(idx)))
        parts.append(np.concatenate([rng.permutation(idx) for _ in range(reps)])[:share])
    return rng.permutation(np.concatenate(parts))[: len(train)]


class MaskedCrossEntropy(nn.Module):
    """Cross-entropy with label smoothing and class weights over each clip's allowed classes.

    With every class allowed it is ``nn.CrossEntropyLoss(weight, label_smoothing)`` (its
    smoothing spread over the allowed classes instead of all); with a mask, disallowed
    classes are out of the softmax, as if the model had only the clip's corpus's labels.
    """

    def __init__(self, weight: torch.Tensor | None, label_smoothing: float) -> None:
        super().__init__()
        self.weight, self.eps = weight, label_smoothing

    def forward(
        self, logits: torch.Tensor, y: torch.Tensor, allowed: torch.Tensor
    ) -> torch.Tensor:  # (batch, classes), (batch,), (batch, classes) bool
        logp = torch.log_softmax(logits.masked_fill(~allowed, float("-inf")), dim=-1)
        logp = logp.masked_fill(~allowed, 0.0)
        nll = -logp.gather(1, y[:, None])[:, 0]
        smooth = -logp.sum(1) / allowed.sum(1)
        w = self.weight[y] if self.weight is not None else torch.ones_like(nll)
        return (w * ((1 - self.eps) * nll + self.eps * smooth)).sum() / w.sum()
