"""Trained models back from disk, and predictions from waveforms.

Kept apart from the training engine (and free of scikit-learn and ``transformers`` for the
offline Whisper encoders) so that one prediction starts fast. A model on disk is one of:

a checkpoint stem, a run folder, an ensemble run folder or an exported model folder such as
the bundled default model; :func:`emovox.store.runs.find_model` reads each.

Encoder weights are never inside a checkpoint: the metadata names the encoder, loaded from its
own source once and shared by every ensemble member.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from emovox import data
from emovox.audio.frontend import Frontend
from emovox.features.handcrafted import FeatureConfig, FeatureExtractor, extract
from emovox.features.pooling import layer_stats
from emovox.models.ensemble import apply_temperature, soft_vote, voting
from emovox.models.inputs import (  # noqa: F401 - where they were, for callers
    clip_inputs,
    encoder_inputs,
    model_inputs,
    predict_proba,
    unfamiliarity,
)
from emovox.models.loading import (  # noqa: F401
    Loaded,
    frozen_split,
    load_checkpoint,
    load_encoder,
    load_members,
    reads_pooled,
)
from emovox.store import runs


class Predictor:
    """One model or an ensemble (soft vote, then the fitted temperature) on waveforms."""

    def __init__(
        self,
        members: list[Loaded],
        temperature: float = 1.0,
        source: str = "",
        device: str | torch.device = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.members = members
        for m in members:
            m.model.to(self.device)
        self.temperature = temperature
        self.threshold: float | None = None
        self.source = source
        self.labels = tuple(members[0].meta["labels"])
        cfgs = {json.dumps(m.meta["feature_config"], sort_keys=True) for m in members}
        if len(cfgs) > 1:
            raise ValueError("ensemble members must share one feature config")
        fronts = {Frontend.from_meta(m.meta) for m in members}
        if len(fronts) > 1:
            raise ValueError(f"ensemble members must share one front end, got {fronts}")
        self.frontend = fronts.pop()
        feature_cfg = FeatureConfig.from_dict(members[0].meta["feature_config"])
        self.extractor = (
            FeatureExtractor(feature_cfg).to(self.device) if self._needs_features() else None
        )
        # encoder id -> module (load_members loads each once and shares it)
        self.encoders = {
            m.meta["encoder"]: m.encoder.to(self.device) for m in members if m.encoder is not None
        }

    def _needs_features(self) -> bool:
        return any(m.reads_features for m in self.members)

    @classmethod
    def load(cls, path: str | Path | None = None, device: str | torch.device = "cpu") -> Predictor:
        """From a model folder, run folder, ensemble run or checkpoint stem; default: the model
        bundled with the package. ``device``: where it runs ("cpu", "cuda", ...)."""
        src = runs.find_model(path)
        pred = cls(load_members(list(src.stems)), src.temperature, str(src.path), device)
        pred.threshold = src.threshold
        return pred

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

    def predict_waves(
        self,
        waves: list[np.ndarray],
        batch_size: int = 8,
        enrollment: list[np.ndarray] | None = None,
    ) -> np.ndarray:
        """Calibrated class probabilities (n, classes) for 16 kHz mono waveforms.

        ``enrollment``: clips of the one speaker of ``waves`` (unlabelled), required by models
        trained with speaker normalisation: their encoder statistics are standardised with
        this speaker's own mean and std, as in training.
        """
        return self.predict_scored(waves, batch_size, enrollment)[0]

    @torch.no_grad()
    def predict_scored(
        self,
        waves: list[np.ndarray],
        batch_size: int = 8,
        enrollment: list[np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (n, classes), unfamiliarity (n,)): the second as :func:`unfamiliarity`
        over the members that read pooled statistics (NaN when none does)."""
        waves, enrollment = self._prepare(waves), self._prepare(enrollment)
        order = np.argsort([len(w) for w in waves])
        out = np.zeros((len(waves), len(self.labels)), dtype=np.float32)
        odd = np.full(len(waves), np.nan, dtype=np.float32)
        upto = self._upto()
        # with the speaker's clips every kind of head votes; without, the plain ones
        votes = voting(self.speaker_normalised(), bool(enrollment))
        heads, shares = [k for k, _ in votes], [w for _, w in votes]
        spk = self._speaker_stats(enrollment, upto, heads)
        for s in range(0, len(order), batch_size):
            sel = order[s : s + batch_size]
            batch = [waves[i] for i in sel]
            raw = extract(batch, self.extractor, batch_size) if self.extractor else None
            encoded = self._encode(batch, upto)
            scored = [self._member(k, self.members[k], raw, encoded, spk) for k in heads]
            probs = [F.softmax(logits.float(), -1).cpu().numpy() for logits, _ in scored]
            out[sel] = apply_temperature(soft_vote(probs, shares), self.temperature)
            z2 = [z for _, z in scored if z is not None]
            if z2:
                odd[sel] = torch.stack(z2).mean(0).cpu().numpy()
        return out, odd

    def _member(
        self, k: int, m: Loaded, raw, encoded, spk
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Member ``k``'s logits on a batch, and its unfamiliarity when it reads statistics."""
        feats = fmask = None
        if raw is not None:
            feats, fmask = (
                t.to(self.device) for t in data.collate([m.stats.apply(f) for f in raw])
            )
        states, smask = encoded.get(m.meta["encoder"], (None, None))
        if m.encoder is None:
            return m.model(feats, fmask), None
        if reads_pooled(m.model):
            pooled = layer_stats([states[i] for i in m.model.enc.layers], smask)
            if k in spk:
                mean, std = (torch.from_numpy(a).float().to(self.device) for a in spk[k])
                pooled = (pooled - mean) / std
            return m.model(feats, fmask, pooled=pooled), unfamiliarity(m.model, pooled)
        st = states[: frozen_split(m.model) + 1]
        return m.model(feats, fmask, st, smask), None

    @torch.no_grad()
    def member_inputs(self, waves: list[np.ndarray], batch_size: int = 8) -> list[np.ndarray]:
        """Per member, the statistics it reads (n, layers * 2d), before any standardisation;
        every member must read pooled statistics (:attr:`reads_statistics`)."""
        if not self.reads_statistics:
            raise ValueError("only models whose members read pooled encoder statistics adapt")
        waves, upto = self._prepare(waves), self._upto()
        out: list[list[np.ndarray]] = [[] for _ in self.members]
        for s in range(0, len(waves), batch_size):
            encoded = self._encode(waves[s : s + batch_size], upto)
            for k, m in enumerate(self.members):
                states, smask = encoded[m.meta["encoder"]]
                pooled = layer_stats([states[i] for i in m.model.enc.layers], smask)
                out[k].append(pooled.flatten(1).cpu().numpy())
        return [np.concatenate(x) for x in out]

    @torch.no_grad()
    def classify(
        self, inputs: list[np.ndarray], adapted: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """(calibrated probabilities, unfamiliarity) from each member's statistics; ``adapted``:
        whether they were adapted to the voice, which decides the heads that vote
        (:func:`emovox.models.ensemble.head_weights`)."""
        votes = voting(self.speaker_normalised(), adapted)
        probs, odd = [], []
        for k, _ in votes:
            m = self.members[k]
            pooled = self._pooled(m, inputs[k])
            probs.append(F.softmax(m.model(None, None, pooled=pooled).float(), -1).cpu().numpy())
            odd.append(unfamiliarity(m.model, pooled).cpu().numpy())
        shares = [w for _, w in votes]
        out = apply_temperature(soft_vote(probs, shares), self.temperature).astype(np.float32)
        return out, np.average(odd, axis=0, weights=shares).astype(np.float32)

    @torch.no_grad()
    def dimension_scores(
        self, inputs: list[np.ndarray], adapted: bool = False
    ) -> np.ndarray | None:
        """Arousal and valence (n, 2) in [-1, 1]: P(high) - P(low) of the voting members'
        trained heads (``model_config.dimensions``), weighted as :meth:`classify` weighs them;
        None unless every voting member has them."""
        votes = voting(self.speaker_normalised(), adapted)
        if not all(getattr(self.members[k].model, "dims", None) is not None for k, _ in votes):
            return None
        out = []
        for k, _ in votes:
            m, x = self.members[k], inputs[k]
            dims = m.model(None, None, pooled=self._pooled(m, x), with_dimensions=True)[1]
            p = F.softmax(dims.float().view(len(x), 2, 3), -1).cpu().numpy()
            out.append(p[..., 2] - p[..., 0])
        return np.average(out, axis=0, weights=[w for _, w in votes]).astype(np.float32)

    def _pooled(self, m, x: np.ndarray) -> torch.Tensor:
        """A member's flat statistics (n, layers * 2d) as its head reads them (n, layers, 2d)."""
        return torch.from_numpy(x).float().to(self.device).view(len(x), len(m.model.enc.layers), -1)

    @property
    def reads_statistics(self) -> bool:
        return all(m.encoder is not None and reads_pooled(m.model) for m in self.members)

    def training_means(self) -> list[np.ndarray]:
        """Per member, the mean of the statistics it was trained on."""
        return [m.model.enc.norm_mean.cpu().numpy() for m in self.members]

    def voice_features(self, inputs: list[np.ndarray]) -> np.ndarray:
        """See :class:`emovox.infer.engine.Engine`."""
        layers = self.members[0].model.enc.layers
        return inputs[0].reshape(len(inputs[0]), len(layers), -1)[:, int(np.argmin(layers))]

    def speaker_normalised(self) -> list[bool]:
        """Per member, whether it was trained on per-speaker standardised statistics."""
        return [bool(m.meta.get("speaker_norm")) for m in self.members]

    def _prepare(self, waves: list[np.ndarray] | None) -> list[np.ndarray] | None:
        """Waves as the model was trained on them: trimmed and levelled if they were."""
        return None if waves is None else [self.frontend(w) for w in waves]

    def _speaker_stats(
        self, enrollment: list[np.ndarray] | None, upto: dict[str, int], heads: list[int]
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Per speaker-normalised member among ``heads`` (those voting): (mean, std) of the
        enrollment clips' statistics."""
        needs = [k for k in heads if self.members[k].meta.get("speaker_norm")]
        if not needs:
            return {}
        if not enrollment:
            raise ValueError(
                "this model standardises each speaker's voice: pass enrollment "
                "clips of the speaker (predict_waves(..., enrollment=[...]))"
            )
        pooled: dict[str, list[torch.Tensor]] = {name: [] for name in upto}
        for s in range(0, len(enrollment), 8):
            for name, (states, smask) in self._encode(enrollment[s : s + 8], upto).items():
                pooled[name].append(layer_stats(states, smask))
        allp = {name: torch.cat(p).cpu().numpy() for name, p in pooled.items()}  # (n, layers, 2d)
        return {
            k: data.mean_std(
                allp[self.members[k].meta["encoder"]][:, list(self.members[k].model.enc.layers)]
            )
            for k in needs
        }
