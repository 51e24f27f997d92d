"""What a training config builds: the model for its kind, the metadata saved beside its
weights, the optimiser with its schedule, and the loss."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from emovox import models
from emovox.audio.decode import SAMPLE_RATE
from emovox.data import multicorpus
from emovox.data.labels import AROUSAL, VALENCE
from emovox.train.config import TrainConfig
from emovox.train.prepare import Prepared
from emovox.train.runtime import (
    versions,
)


def build_model(
    cfg: TrainConfig, n_features: int, n_classes: int, encoder: nn.Module | None = None
) -> nn.Module:
    """The model a config names (through the registry); ``encoder`` for kinds that read one."""
    kind = models.kind(cfg.model)
    enc = {"layers": cfg.encoder_layers, "pool": cfg.encoder_pool}
    d_model = encoder.d_model if encoder is not None else 0
    full = kind.config(cfg.model_config, n_features, n_classes, d_model, enc)
    model = kind.build(full, encoder, cfg.finetune_layers)
    model.model_config = full  # what its checkpoint's metadata records, to rebuild it
    return model


def model_meta(cfg: TrainConfig, model: nn.Module, labels: tuple[str, ...]) -> dict:
    """What a checkpoint needs to be rebuilt; encoder weights are named, never copied in."""
    return {
        "model": cfg.model,
        "model_config": model.model_config,
        "labels": list(labels),
        "sample_rate": SAMPLE_RATE,  # what the model's audio must be (every engine checks)
        "feature_config": cfg.feature.to_dict(),
        "versions": versions(),
        "encoder": cfg.encoder,
        "finetune_layers": cfg.finetune_layers,
        "speaker_norm": cfg.speaker_norm,
        "speaker_norm_by": cfg.speaker_norm_by,
        "trim_db": cfg.trim_db,
        "trim_speech": cfg.trim_speech,
        "level_db": cfg.level_db,
        "seed": cfg.seed,
    }


def optimiser(cfg: TrainConfig, model: nn.Module, steps: int):
    """AdamW with a learning rate per component, under OneCycle over the whole run."""
    groups = model.param_groups()
    missing = set(groups) - set(cfg.optim.lr)
    if missing:
        raise ValueError(f"optim.lr needs a rate for every component; missing {sorted(missing)}")
    opt = torch.optim.AdamW(
        [{"params": p, "lr": cfg.optim.lr[name], "name": name} for name, p in groups.items()],
        weight_decay=cfg.optim.weight_decay,
    )
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=[cfg.optim.lr[name] for name in groups],
        total_steps=cfg.epochs * steps,
        pct_start=0.25,
    )
    return opt, sched


def loss(cfg: TrainConfig, prep: Prepared, n_classes: int, device: torch.device) -> nn.Module:
    """Cross-entropy with label smoothing and (optionally) inverse-frequency class weights;
    with arousal and valence heads (``model_config.dimensions``), their losses added."""
    base = _class_loss(cfg, prep, n_classes, device)
    weight = float(cfg.model_config.get("dimensions", 0.0))
    if weight <= 0:
        return base
    return DimensionLoss(base, prep.split.labels, weight, cfg.optim.label_smoothing, device)


class DimensionLoss(nn.Module):
    """The class loss plus ``weight`` x the arousal and valence heads' cross-entropies, their
    targets the classes' places on the two axes (low / neutral / high). Class weights do not
    apply: the axes' own classes are what the heads learn to tell apart."""

    def __init__(self, base, labels, weight: float, smoothing: float, device) -> None:
        super().__init__()
        self.base, self.weight = base, weight
        self.ce = nn.CrossEntropyLoss(label_smoothing=smoothing)
        self.to_axes = torch.tensor(
            [[AROUSAL[k] + 1, VALENCE[k] + 1] for k in labels], device=device
        )  # (classes, 2): 0 low, 1 neutral, 2 high

    def forward(self, out: tuple[torch.Tensor, torch.Tensor], y: torch.Tensor, *extra):
        logits, dims = out
        axes = self.to_axes[y]
        aux = self.ce(dims[:, :3], axes[:, 0]) + self.ce(dims[:, 3:], axes[:, 1])
        return self.base(logits, y, *extra) + self.weight * aux


def _class_loss(cfg: TrainConfig, prep: Prepared, n_classes: int, device) -> nn.Module:
    train_idx = prep.split.train
    counts = np.bincount([prep.y[i] for i in train_idx], minlength=n_classes)
    weights = torch.tensor(
        len(train_idx) / (n_classes * np.maximum(counts, 1)), dtype=torch.float32, device=device
    )
    if prep.class_masks is not None:  # corpora with different label sets
        w = weights if cfg.optim.class_weights else None
        return multicorpus.MaskedCrossEntropy(w, cfg.optim.label_smoothing)
    return nn.CrossEntropyLoss(
        weight=weights if cfg.optim.class_weights else None,
        label_smoothing=cfg.optim.label_smoothing,
    )
