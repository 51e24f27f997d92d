"""Standardising statistics to a reference: a speaker's own clips in training and enrollment,
a recording's or a folder's own windows when adapting. One definition, so training and both
engines take a voice's mean and spread the same way."""

from __future__ import annotations

import numpy as np

STD_FLOOR = 1e-5  # a dimension that does not vary is left unscaled, not blown up


def mean_std(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over axis 0, summed in float64 (no float64 copy of ``stack`` is made);
    std 1 from a single row, floored at ``STD_FLOOR``."""
    mean = stack.mean(0, dtype=np.float64)
    if len(stack) < 2:
        return mean, np.ones_like(mean)
    return mean, np.maximum(stack.std(0, dtype=np.float64), STD_FLOOR)


def standardise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``x`` (rows, dims) as float32 deviations from ``mean`` in units of ``std``."""
    return (x - mean.astype(np.float32)) / std.astype(np.float32)
