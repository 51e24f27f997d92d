"""Trained models back from disk, and predictions from waveforms.

Kept apart from the training engine (and free of scikit-learn and ``transformers`` for the
offline Whisper encoders) so that one prediction starts fast. A model on disk is one of:

a checkpoint stem, a run folder, an ensemble run folder or an exported model folder such as
the bundled default model; :func:`emovox.runs.find_model` reads each.

Encoder weights are never inside a checkpoint: the metadata names the encoder, loaded from its
own source once and shared by every ensemble member.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emovox import checkpoint, data, models, runs
from emovox.cache import ArrayCache
from emovox.ensemble import apply_temperature, soft_vote
from emovox.features import FeatureConfig, FeatureExtractor, FeatureStats, extract
from emovox.frontend import Frontend
from emovox.integrity import ModelError
from emovox.models.encoders import is_whisper, load_ssl, load_whisper
from emovox.models.hybrid import HybridModel
from emovox.models.pooling import layer_stats


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
    enc = getattr(model, "enc", None)
    return enc is not None and enc.cfg.pool == "meanstd" and not len(model.top)


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
        weights = {k[6:]: v.float() for k, v in tensors.items() if k.startswith("model.")}
        model.load_state_dict(weights)
        stats = FeatureStats(tensors["feature_mean"].numpy(), tensors["feature_std"].numpy())
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            stem, f"tensors do not fit the model its JSON describes: {first}"
        ) from None
    return Loaded(model.eval(), meta, stats, encoder)


def model_inputs(
    model: nn.Module,
    feats: list[np.ndarray] | None,
    states: list[np.ndarray] | None,
    device: torch.device,
) -> tuple:
    """Positional inputs of the model's forward for one batch of per-clip arrays."""
    if getattr(model, "cnn", True) is None:  # a hybrid without its CNN-LSTM pathway
        x = mask = None
    else:
        x, mask = (t.to(device) for t in data.collate(feats))
    if states is None:
        return x, mask
    if reads_pooled(model):
        return x, mask, None, None, torch.from_numpy(np.stack(states)).to(device)
    st, smask = data.collate_states(states)
    return x, mask, [s.to(device) for s in st], smask.to(device)


def encoder_inputs(
    model: nn.Module,
    encoder: nn.Module,
    encoder_id: str,
    waves: list[np.ndarray],
    hashes: list[str],
    cache: ArrayCache | None,
    variant: data.Variant | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """(what the model's encoder pathway reads per clip, its pooled statistics or None).

    Frozen with ``meanstd`` pooling: the chosen layers' statistics (layers, 2d), also what
    standardisation is fitted on. Otherwise the frozen layers' frame states
    (split + 1, frames, d), float16. With a ``variant``: of that augmented copy of each clip.
    """
    pooled = None
    if model.enc.cfg.pool == "meanstd":
        layers = list(model.enc.layers)
        arrs = data.encoder_pooled(waves, hashes, encoder, encoder_id, cache, variant=variant)
        pooled = [a[layers] for a in arrs]
        if reads_pooled(model):
            return pooled, pooled
    split = frozen_split(model)
    states = data.encoder_states(waves, hashes, encoder, split, encoder_id, cache, variant=variant)
    return states, pooled


def clip_inputs(
    loaded: Loaded, clips: data.Clips, cache: ArrayCache | None
) -> tuple[list | None, list | None]:
    """(normalised features or None, encoder inputs or None) of decoded clips for a loaded
    model, as training computed them; speaker normalisation uses the clips' own speakers."""
    clips = clips.through(Frontend.from_meta(loaded.meta))
    hashes = clips.keys
    feats = states = None
    if loaded.reads_features:
        extractor = FeatureExtractor(FeatureConfig.from_dict(loaded.meta["feature_config"]))
        raw = data.clean_features(clips.waves, hashes, extractor, cache)
        feats = [loaded.stats.apply(f) for f in raw]
    if loaded.encoder is not None:
        states, _ = encoder_inputs(
            loaded.model, loaded.encoder, loaded.meta["encoder"], clips.waves, hashes, cache
        )
        if loaded.meta.get("speaker_norm"):
            states = data.speaker_standardise(
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
        p = F.softmax(model(*inputs).float(), -1).cpu().numpy()
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
        return cls(load_members(list(src.stems)), src.temperature, str(src.path), device)

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
        spk = self._speaker_stats(enrollment, upto)
        for s in range(0, len(order), batch_size):
            sel = order[s : s + batch_size]
            batch = [waves[i] for i in sel]
            raw = extract(batch, self.extractor, batch_size) if self.extractor else None
            encoded = self._encode(batch, upto)
            scored = [self._member(k, m, raw, encoded, spk) for k, m in enumerate(self.members)]
            probs = [F.softmax(logits.float(), -1).cpu().numpy() for logits, _ in scored]
            out[sel] = apply_temperature(soft_vote(probs), self.temperature)
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
    def classify(self, inputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(calibrated probabilities, unfamiliarity) from each member's statistics."""
        probs, odd = [], []
        for m, x in zip(self.members, inputs, strict=True):
            pooled = (
                torch.from_numpy(x)
                .float()
                .to(self.device)
                .view(len(x), len(m.model.enc.layers), -1)
            )
            probs.append(F.softmax(m.model(None, None, pooled=pooled).float(), -1).cpu().numpy())
            odd.append(unfamiliarity(m.model, pooled).cpu().numpy())
        out = apply_temperature(soft_vote(probs), self.temperature).astype(np.float32)
        return out, np.mean(odd, axis=0).astype(np.float32)

    @property
    def reads_statistics(self) -> bool:
        return all(m.encoder is not None and reads_pooled(m.model) for m in self.members)

    def training_means(self) -> list[np.ndarray]:
        """Per member, the mean of the statistics it was trained on."""
        return [m.model.enc.norm_mean.cpu().numpy() for m in self.members]

    def speaker_normalised(self) -> list[bool]:
        """Per member, whether it was trained on per-speaker standardised statistics."""
        return [bool(m.meta.get("speaker_norm")) for m in self.members]

    def _prepare(self, waves: list[np.ndarray] | None) -> list[np.ndarray] | None:
        """Waves as the model was trained on them: trimmed and levelled if they were."""
        return None if waves is None else [self.frontend(w) for w in waves]

    def _speaker_stats(
        self, enrollment: list[np.ndarray] | None, upto: dict[str, int]
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Per speaker-normalised member: (mean, std) of the enrollment clips' statistics."""
        needs = [k for k, m in enumerate(self.members) if m.meta.get("speaker_norm")]
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
