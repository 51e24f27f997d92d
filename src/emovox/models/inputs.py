"""What a model reads, made from clips: features and encoder states per batch, as training
computed them, and class probabilities from them. Shared by training, evaluation and the torch
engine, so all three feed a model the same way."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emovox.audio.frontend import Frontend
from emovox.data.clips import (
    Clips,
    Variant,
    clean_features,
    collate,
    collate_states,
    encoder_pooled,
    encoder_states,
    speaker_standardise,
)
from emovox.features.handcrafted import FeatureConfig, FeatureExtractor
from emovox.models.hybrid import HybridModel
from emovox.models.loading import Loaded, frozen_split, reads_pooled
from emovox.store.cache import ArrayCache


def model_inputs(
    model: nn.Module,
    feats: list[np.ndarray] | None,
    states: list[np.ndarray] | None,
    device: torch.device,
) -> dict:
    """The named inputs the model's forward reads (``model.inputs``: emovox.models.kind.Model)
    for one batch of per-clip arrays: features, encoder states or pooled statistics."""
    out: dict = {}
    if "feats" in model.inputs:
        out["feats"], out["feat_mask"] = (t.to(device) for t in collate(feats))
    if "pooled" in model.inputs:
        out["pooled"] = torch.from_numpy(np.stack(states)).to(device)
    elif "states" in model.inputs:
        st, smask = collate_states(states)
        out["states"], out["state_mask"] = [s.to(device) for s in st], smask.to(device)
    return out


def encoder_inputs(
    model: nn.Module,
    encoder: nn.Module,
    encoder_id: str,
    waves: list[np.ndarray],
    hashes: list[str],
    cache: ArrayCache | None,
    variant: Variant | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """(what the model's encoder pathway reads per clip, its pooled statistics or None).

    Frozen with ``meanstd`` pooling: the chosen layers' statistics (layers, 2d), also what
    standardisation is fitted on. Otherwise the frozen layers' frame states
    (split + 1, frames, d), float16. With a ``variant``: of that augmented copy of each clip.
    """
    pooled = None
    if model.enc.cfg.pool == "meanstd":
        layers = list(model.enc.layers)
        arrs = encoder_pooled(waves, hashes, encoder, encoder_id, cache, variant=variant)
        pooled = [a[layers] for a in arrs]
        if reads_pooled(model):
            return pooled, pooled
    split = frozen_split(model)
    states = encoder_states(waves, hashes, encoder, split, encoder_id, cache, variant=variant)
    return states, pooled


def clip_inputs(
    loaded: Loaded, clips: Clips, cache: ArrayCache | None
) -> tuple[list | None, list | None]:
    """(normalised features or None, encoder inputs or None) of decoded clips for a loaded
    model, as training computed them; speaker normalisation uses the clips' own speakers."""
    clips = clips.through(Frontend.from_meta(loaded.meta))
    hashes = clips.keys
    feats = states = None
    if loaded.reads_features:
        extractor = FeatureExtractor(FeatureConfig.from_dict(loaded.meta["feature_config"]))
        raw = clean_features(clips.waves, hashes, extractor, cache)
        feats = [loaded.stats.apply(f) for f in raw]
    if loaded.encoder is not None:
        states, _ = encoder_inputs(
            loaded.model, loaded.encoder, loaded.meta["encoder"], clips.waves, hashes, cache
        )
        if loaded.meta.get("speaker_norm"):
            states = speaker_standardise(
                states,
                [r.speaker for r in clips.rows],
                loaded.meta["speaker_norm"],
                loaded.meta.get("seed", 0),
            )
    return feats, states


@torch.no_grad()
def predict_proba(
    model: nn.Module,
    feats: list[np.ndarray],
    states: list[np.ndarray] | None,
    device: torch.device,
    batch_size: int = 64,
) -> np.ndarray:
    """Class probabilities (n, classes) from normalised features and/or encoder inputs."""
    model.eval()
    n = len(feats) if feats else len(states)
    order = np.argsort([len(f) for f in feats]) if feats else np.arange(n)
    out = None
    for s in range(0, n, batch_size):
        sel = order[s : s + batch_size]
        inputs = model_inputs(
            model,
            [feats[i] for i in sel] if feats else None,
            [states[i] for i in sel] if states else None,
            device,
        )
        p = F.softmax(model(**inputs).float(), -1).cpu().numpy()
        if out is None:
            out = np.zeros((n, p.shape[1]), dtype=np.float32)
        out[sel] = p
    return out


def unfamiliarity(model: HybridModel, pooled: torch.Tensor) -> torch.Tensor:
    """Per clip, the mean squared standardised statistic the encoder head reads: about 1 on
    its training data, far above on speech unlike it (synthetic voices score 4-6 against RAVDESS
    training, docs/analysis.md). A diagonal-Gaussian distance, cheap and model-agnostic."""
    z = (pooled.flatten(1) - model.enc.norm_mean) / model.enc.norm_std
    return (z * z).mean(1)
