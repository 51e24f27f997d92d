"""Trained models back from disk, run by torch: the torch :class:`Backend` of
:class:`emovox.infer.engine.Engine`, for every kind (the NumPy one runs the bundled model's).

Kept apart from the training engine (and free of scikit-learn and ``transformers`` for the
offline Whisper encoders) so that one prediction starts fast. A model on disk is one of:
a checkpoint stem, a run folder, an ensemble run folder or an exported model folder such as
the bundled default model; :func:`emovox.store.runs.find_model` reads each.

Encoder weights are never inside a checkpoint: the metadata names the encoder, loaded from its
own source once and shared by every ensemble member.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch

from emovox.audio.frontend import Frontend
from emovox.data.clips import collate
from emovox.features.handcrafted import FeatureConfig, FeatureExtractor, extract
from emovox.features.pooling import layer_stats
from emovox.infer.engine import Engine, Logits
from emovox.models.inputs import unfamiliarity
from emovox.models.loading import Loaded, frozen_split, load_members, reads_pooled
from emovox.store import runs

BATCH = 8  # waves through the encoder at a time


class TorchBackend:
    """One model or an ensemble's members in torch, on a device: their forward only
    (:class:`emovox.infer.engine.Backend`; the engine votes)."""

    def __init__(
        self,
        members: list[Loaded],
        temperature: float = 1.0,
        source: str = "",
        device: str | torch.device = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.members = members
        self.metas = [m.meta for m in members]
        for m in members:
            m.model.to(self.device)
        self.temperature = temperature
        self.threshold: float | None = None
        self.source = source
        cfgs = {json.dumps(m.meta["feature_config"], sort_keys=True) for m in members}
        if len(cfgs) > 1:
            raise ValueError("ensemble members must share one feature config")
        fronts = {Frontend.from_meta(m.meta) for m in members}
        if len(fronts) > 1:
            raise ValueError(f"ensemble members must share one front end, got {fronts}")
        self.frontend = fronts.pop()
        feature_cfg = FeatureConfig.from_dict(members[0].meta["feature_config"])
        reads = any(m.reads_features for m in members)
        self.extractor = FeatureExtractor(feature_cfg).to(self.device) if reads else None
        # encoder id -> module (load_members loads each once and shares it)
        self.encoders = {
            m.meta["encoder"]: m.encoder.to(self.device) for m in members if m.encoder is not None
        }
        self.reads_statistics = all(
            m.encoder is not None and reads_pooled(m.model) for m in members
        )

    def _upto(self) -> dict[str, int]:
        """Per encoder id, the highest frozen layer any member reads from it."""
        upto: dict[str, int] = {}
        for m in self.members:
            if m.encoder is not None:
                name = m.meta["encoder"]
                upto[name] = max(upto.get(name, 0), frozen_split(m.model))
        return upto

    def _encode(
        self, waves: list[np.ndarray], upto: dict[str, int]
    ) -> dict[str, tuple[list[torch.Tensor], torch.Tensor]]:
        """Each encoder's frozen states (list of (b, t, d)) and frame mask, run once."""
        return {name: self.encoders[name].states(waves, k) for name, k in upto.items()}

    @torch.no_grad()
    def member_inputs(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """Per member, the statistics it reads (n, layers * 2d), before any standardisation."""
        waves, upto = [self.frontend(w) for w in waves], self._upto()
        out: list[list[np.ndarray]] = [[] for _ in self.members]
        for s in range(0, len(waves), BATCH):
            encoded = self._encode(waves[s : s + BATCH], upto)
            for k, m in enumerate(self.members):
                states, smask = encoded[m.meta["encoder"]]
                pooled = layer_stats([states[i] for i in m.model.enc.layers], smask)
                out[k].append(pooled.flatten(1).cpu().numpy())
        return [np.concatenate(x) for x in out]

    @torch.no_grad()
    def heads(self, k: int, x: np.ndarray, dimensions: bool) -> Logits:
        model = self.members[k].model
        pooled = torch.from_numpy(x).float().to(self.device).view(len(x), len(model.enc.layers), -1)
        if not dimensions or not model.predicts_dimensions:
            return model(pooled=pooled).float().cpu().numpy(), None
        logits, dims = model(pooled=pooled, with_dimensions=True)
        return logits.float().cpu().numpy(), dims.float().cpu().numpy()

    def norm(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        enc = self.members[k].model.enc
        return enc.norm_mean.cpu().numpy(), enc.norm_std.cpu().numpy()

    @torch.no_grad()
    def wave_logits(
        self, waves: list[np.ndarray], heads: list[int]
    ) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Each member in ``heads``: its logits on ``waves`` and unfamiliarity (members that
        read statistics), batched shortest first (less padding)."""
        waves = [self.frontend(w) for w in waves]
        order = np.argsort([len(w) for w in waves])
        n, upto = len(waves), self._upto()
        logits = [np.zeros((n, len(self.metas[0]["labels"])), np.float32) for _ in heads]
        unfamiliar: list[np.ndarray | None] = [None for _ in heads]
        for s in range(0, n, BATCH):
            sel = order[s : s + BATCH]
            batch = [waves[i] for i in sel]
            raw = extract(batch, self.extractor, BATCH) if self.extractor else None
            encoded = self._encode(batch, upto)
            for j, k in enumerate(heads):
                z, z2 = self._member(self.members[k], raw, encoded)
                logits[j][sel] = z.float().cpu().numpy()
                if z2 is not None:
                    if unfamiliar[j] is None:
                        unfamiliar[j] = np.full(n, np.nan, np.float32)
                    unfamiliar[j][sel] = z2.cpu().numpy()
        return list(zip(logits, unfamiliar, strict=True))

    def _member(self, m: Loaded, raw, encoded) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A member's logits on a batch, and its unfamiliarity when it reads statistics."""
        named: dict = {}
        if "feats" in m.model.inputs:
            feats = collate([m.stats.apply(f) for f in raw])
            named["feats"], named["feat_mask"] = (t.to(self.device) for t in feats)
        states, smask = encoded.get(m.meta["encoder"], (None, None))
        if "pooled" in m.model.inputs:
            named["pooled"] = layer_stats([states[i] for i in m.model.enc.layers], smask)
            return m.model(**named), unfamiliarity(m.model, named["pooled"])
        if "states" in m.model.inputs:
            named["states"], named["state_mask"] = states[: frozen_split(m.model) + 1], smask
        return m.model(**named), None


def load(path: str | Path | None = None, device: str | torch.device = "cpu") -> Engine:
    """A model folder, run folder, ensemble run or checkpoint stem (default: the model bundled
    with the package) on ``device`` ("cpu", "cuda", ...)."""
    src = runs.find_model(path)
    backend = TorchBackend(load_members(list(src.stems)), src.temperature, str(src.path), device)
    backend.threshold = src.threshold
    return Engine(backend)


class Predictor:
    """0.5's name for the torch engine: ``Predictor.load`` is :func:`load` (until 0.7)."""

    @staticmethod
    def load(path: str | Path | None = None, device: str | torch.device = "cpu") -> Engine:
        warnings.warn(
            "emovox.infer.torch_engine.Predictor.load is now torch_engine.load (an Engine); "
            "the old name goes in 0.7",
            DeprecationWarning,
            stacklevel=2,
        )
        return load(path, device)
