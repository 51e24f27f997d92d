"""Manifest rows -> waveforms and cached clean features; batches for training.

Unaugmented features are cached on disk (key: file content + feature config); augmented clips
are recomputed on the fly, batched, because each epoch draws new augmentations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from emovox import audio
from emovox.cache import ArrayCache
from emovox.corpora import Utterance
from emovox.features import FeatureExtractor, extract


@dataclass
class Clips:
    """Decoded clips of a manifest: waveforms (16 kHz float32), and the rows that failed."""

    waves: list[np.ndarray]
    rows: list[Utterance]
    errors: list[tuple[str, str]]


def load_clips(rows: Sequence[Utterance], sr: int = 16000) -> Clips:
    """Decode each row; a bad file is reported in ``errors`` and left out, never fatal."""
    waves, good, errors = [], [], []
    for r in rows:
        try:
            waves.append(audio.load(r.path, sr=sr))
            good.append(r)
        except audio.AudioError as exc:
            errors.append((r.path, exc.cause))
    return Clips(waves, good, errors)


def clean_features(
    waves: Sequence[np.ndarray],
    hashes: Sequence[str],
    extractor: FeatureExtractor,
    cache: ArrayCache | None = None,
    batch_size: int = 32,
    progress: Callable[[int], None] | None = None,
) -> list[np.ndarray]:
    """Features of unaugmented clips, read from / written to ``cache`` by content hash."""
    cfg = extractor.cfg.to_dict()
    keys = [ArrayCache.key(h, cfg) if h else "" for h in hashes]
    out: list[np.ndarray | None] = [
        cache.get(k) if cache is not None and k else None for k in keys
    ]
    todo = [i for i, f in enumerate(out) if f is None]
    for start in range(0, len(todo), batch_size * 8):
        chunk = todo[start : start + batch_size * 8]
        feats = extract([waves[i] for i in chunk], extractor, batch_size)
        for i, f in zip(chunk, feats, strict=True):
            out[i] = f
            if cache is not None and keys[i]:
                cache.put(keys[i], f)
        if progress:
            progress(len(chunk))
    if progress and len(todo) < len(out):
        progress(len(out) - len(todo))
    return out  # type: ignore[return-value]


def collate(feats: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad (frames, dims) arrays to (batch, max_frames, dims) plus a validity mask."""
    n = max(len(f) for f in feats)
    x = torch.zeros(len(feats), n, feats[0].shape[1])
    mask = torch.zeros(len(feats), n, dtype=torch.bool)
    for i, f in enumerate(feats):
        x[i, : len(f)] = torch.from_numpy(f)
        mask[i, : len(f)] = True
    return x, mask
