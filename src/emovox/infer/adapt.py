"""Adapting a model's inputs to the voice it is hearing: each member's pooled encoder
statistics of a recording's windows, taken relative to the recording itself."""

from __future__ import annotations

import numpy as np


def to_recording(
    inputs: list[np.ndarray], training_means: list[np.ndarray], standardise: list[bool]
) -> list[np.ndarray]:
    """Each member's window statistics (windows, dims) relative to the recording itself:
    standardised (members trained on per-speaker standardised statistics), or shifted so the
    recording's mean becomes the training mean (the others)."""
    out = []
    for x, mean, std_norm in zip(inputs, training_means, standardise, strict=True):
        mu = x.mean(0, dtype=np.float64)  # float64 sums, float32 arrays: no copy of x grows
        if std_norm:
            sd = np.maximum(x.std(0, dtype=np.float64), 1e-5) if len(x) > 1 else np.ones_like(mu)
            out.append((x - mu.astype(np.float32)) / sd.astype(np.float32))
        else:
            out.append(x + (mean - mu).astype(np.float32))
    return out
