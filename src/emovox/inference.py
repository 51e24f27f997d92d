"""Trained models back from disk, and predictions from waveforms.

Kept apart from the training engine (and free of scikit-learn and ``transformers`` for the
offline Whisper encoders) so that one prediction starts fast. A model on disk is one of:

- a checkpoint stem (``RUN/checkpoints/best`` -> ``best.safetensors`` + ``best.json``);
- a run folder (its best checkpoint) or an ensemble run folder (``ensemble.json``: members
  and the temperature fitted on the validation side);
- an exported model folder (``model.json`` + ``member{k}.safetensors/.json``), such as the
  default model bundled in the package.

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

from emovox import audio, checkpoint, data
from emovox.cache import ArrayCache
from emovox.ensemble import apply_temperature, soft_vote
from emovox.features import FeatureConfig, FeatureExtractor, FeatureStats, extract
from emovox.lite import DEFAULT_MODEL
from emovox.models.cnn_lstm import CNNLSTM, CNNLSTMConfig
from emovox.models.encoders import is_whisper, load_ssl, load_whisper
from emovox.models.hybrid import HybridConfig, HybridModel, split_encoder
from emovox.models.pooling import layer_stats


def uses_encoder(model: str) -> bool:
    return model in ("ssl", "hybrid")


def load_encoder(source: str) -> nn.Module:
    """A frozen encoder by name: Whisper (wheel name, CT2 folder, hub id) or HuBERT / wav2vec2
    / WavLM (hub id or local directory)."""
    enc = load_whisper(source) if is_whisper(source) else load_ssl(source)
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc.eval()


def model_from_meta(meta: dict, encoder: nn.Module | None = None) -> nn.Module:
    if meta["model"] == "cnn_lstm":
        return CNNLSTM(CNNLSTMConfig.from_dict(meta["model_config"]))
    if meta["model"] in ("ssl", "hybrid"):
        _, top, norm = split_encoder(encoder, meta["finetune_layers"],
                                     max(meta["model_config"]["ssl"]["layers"]))
        return HybridModel(HybridConfig.from_dict(meta["model_config"]), top, norm)
    raise ValueError(f"unknown model {meta['model']!r} in checkpoint")


def reads_pooled(model: nn.Module) -> bool:
    """True when the model's encoder pathway reads cached per-layer statistics (frozen
    encoder, ``meanstd`` pooling) rather than frame states."""
    return (isinstance(model, HybridModel) and model.ssl is not None
            and model.ssl.cfg.pool == "meanstd" and not len(model.top))  # fmt: skip


@dataclass
class Loaded:
    """A trained model ready to predict: weights, metadata, feature statistics and, for
    ssl/hybrid, the frozen encoder that computes the states the model reads."""

    model: nn.Module
    meta: dict
    stats: FeatureStats
    encoder: nn.Module | None


def load_model(stem: str | Path, encoder: nn.Module | None = None) -> Loaded:
    """Rebuild a model from a checkpoint (safetensors + JSON). The encoder comes from its
    source (or ``encoder``, shared between members), never from the checkpoint."""
    tensors, meta = checkpoint.load(stem)
    if uses_encoder(meta["model"]) and encoder is None:
        encoder = load_encoder(meta["encoder"])
    model = model_from_meta(meta, encoder)
    model.load_state_dict({k[6:]: v.float() for k, v in tensors.items() if k.startswith("model.")})
    stats = FeatureStats(tensors["feature_mean"].numpy(), tensors["feature_std"].numpy())
    return Loaded(model.eval(), meta, stats, encoder)


def model_inputs(model: nn.Module, feats: list[np.ndarray] | None,
                 states: list[np.ndarray] | None, device: torch.device) -> tuple:  # fmt: skip
    """Positional inputs of the model's forward for one batch of per-clip arrays."""
    if isinstance(model, HybridModel) and model.cnn is None:
        x = mask = None  # the encoder pathway alone reads no handcrafted features
    else:
        x, mask = (t.to(device) for t in data.collate(feats))
    if states is None:
        return x, mask
    if reads_pooled(model):
        return x, mask, None, None, torch.from_numpy(np.stack(states)).to(device)
    st, smask = data.collate_states(states)
    return x, mask, [s.to(device) for s in st], smask.to(device)


def encoder_inputs(
    model: nn.Module, encoder: nn.Module, encoder_id: str, waves: list[np.ndarray],
    hashes: list[str], cache: ArrayCache | None, variant: data.Variant | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """(what the model's encoder pathway reads per clip, its pooled statistics or None).

    Frozen with ``meanstd`` pooling: the chosen layers' statistics (layers, 2d), also what
    standardisation is fitted on. Otherwise the frozen layers' frame states
    (split + 1, frames, d), float16. With a ``variant``: of that augmented copy of each clip.
    """
    pooled = None
    if model.ssl.cfg.pool == "meanstd":
        layers = list(model.ssl.layers)
        arrs = data.encoder_pooled(waves, hashes, encoder, encoder_id, cache, variant=variant)
        pooled = [a[layers] for a in arrs]
        if reads_pooled(model):
            return pooled, pooled
    split = frozen_split(model)
    states = data.encoder_states(waves, hashes, encoder, split, encoder_id, cache,
                                 variant=variant)  # fmt: skip
    return states, pooled


def clip_inputs(loaded: Loaded, clips: data.Clips,
                cache: ArrayCache | None) -> tuple[list | None, list | None]:  # fmt: skip
    """(normalised features or None, encoder inputs or None) of decoded clips for a loaded
    model, as training computed them; speaker normalisation uses the clips' own speakers."""
    clips = clips.trimmed(loaded.meta.get("trim_db", 0.0))
    hashes = clips.keys
    feats = states = None
    if not (isinstance(loaded.model, HybridModel) and loaded.model.cnn is None):
        extractor = FeatureExtractor(FeatureConfig.from_dict(loaded.meta["feature_config"]))
        raw = data.clean_features(clips.waves, hashes, extractor, cache)
        feats = [loaded.stats.apply(f) for f in raw]
    if loaded.encoder is not None:
        states, _ = encoder_inputs(loaded.model, loaded.encoder, loaded.meta["encoder"],
                                   clips.waves, hashes, cache)  # fmt: skip
        if loaded.meta.get("speaker_norm"):
            states = data.speaker_standardise(states, [r.speaker for r in clips.rows],
                                              loaded.meta["speaker_norm"],
                                              loaded.meta.get("seed", 0))  # fmt: skip
    return feats, states


@torch.no_grad()
def predict_proba(model: nn.Module, feats: list[np.ndarray], states: list[np.ndarray] | None,
                  device: torch.device, batch_size: int = 64) -> np.ndarray:  # fmt: skip
    """Class probabilities (n, classes) from normalised features and/or encoder inputs."""
    model.eval()
    n = len(feats) if feats else len(states)
    order = np.argsort([len(f) for f in feats]) if feats else np.arange(n)
    out = None
    for s in range(0, n, batch_size):
        sel = order[s : s + batch_size]
        inputs = model_inputs(model, [feats[i] for i in sel] if feats else None,
                              [states[i] for i in sel] if states else None, device)  # fmt: skip
        p = F.softmax(model(*inputs).float(), -1).cpu().numpy()
        if out is None:
            out = np.zeros((n, p.shape[1]), dtype=np.float32)
        out[sel] = p
    return out


def frozen_split(model: HybridModel) -> int:
    """The last encoder layer computed by the frozen encoder; the model's own trainable
    layers (if any) run from there up to its highest pooled layer."""
    return max(model.ssl.layers) - len(model.top)


def load_members(stems: list[Path]) -> list[Loaded]:
    """Checkpoints, each encoder loaded once and shared by the members that name it (an
    ensemble may mix encoders, e.g. Whisper base and tiny heads)."""
    members: list[Loaded] = []
    encoders: dict[str, nn.Module] = {}
    for stem in stems:
        name = json.loads(Path(stem).with_suffix(".json").read_text()).get("encoder", "")
        m = load_model(stem, encoders.get(name))
        if m.encoder is not None:
            encoders.setdefault(m.meta["encoder"], m.encoder)
        members.append(m)
    return members


class Predictor:
    """One model or an ensemble (soft vote, then the fitted temperature) on waveforms."""

    def __init__(self, members: list[Loaded], temperature: float = 1.0, source: str = "",
                 device: str | torch.device = "cpu") -> None:  # fmt: skip
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
        trims = {float(m.meta.get("trim_db", 0.0)) for m in members}
        if len(trims) > 1:
            raise ValueError(f"ensemble members must share one trim_db, got {sorted(trims)}")
        self.trim_db = trims.pop()
        feature_cfg = FeatureConfig.from_dict(members[0].meta["feature_config"])
        self.extractor = (FeatureExtractor(feature_cfg).to(self.device)
                          if self._needs_features() else None)  # fmt: skip
        # encoder id -> module (load_members loads each once and shares it)
        self.encoders = {m.meta["encoder"]: m.encoder.to(self.device)
                         for m in members if m.encoder is not None}  # fmt: skip

    def _needs_features(self) -> bool:
        return any(not (isinstance(m.model, HybridModel) and m.model.cnn is None)
                   for m in self.members)  # fmt: skip

    @classmethod
    def load(cls, path: str | Path | None = None, device: str | torch.device = "cpu") -> Predictor:
        """From a model folder, run folder, ensemble run or checkpoint stem; default: the model
        bundled with the package. ``device``: where it runs ("cpu", "cuda", ...)."""
        path = Path(path) if path else DEFAULT_MODEL
        if (path / "model.json").exists():
            spec = json.loads((path / "model.json").read_text())
            stems = [path / m for m in spec["members"]]
        elif (path / "ensemble.json").exists():
            spec = json.loads((path / "ensemble.json").read_text())
            stems = [path / m / "checkpoints" / "best" for m in spec["members"]]
        elif (path / "checkpoints" / "best.json").exists():
            spec, stems = {}, [path / "checkpoints" / "best"]
        elif path.with_suffix(".json").exists():
            spec, stems = {}, [path]
        else:
            raise FileNotFoundError(f"{path}: not a model (no model.json, ensemble.json, "
                                    "checkpoints/best.json or checkpoint stem)")  # fmt: skip
        return cls(load_members(stems), float(spec.get("temperature", 1.0)), str(path), device)

    def _upto(self) -> dict[str, int]:
        """Per encoder id, the highest frozen layer any member reads from it."""
        upto: dict[str, int] = {}
        for m in self.members:
            if m.encoder is not None:
                name = m.meta["encoder"]
                upto[name] = max(upto.get(name, 0), frozen_split(m.model))
        return upto

    def _encode(self, waves: list[np.ndarray],
                upto: dict[str, int]) -> dict[str, tuple[list[torch.Tensor], torch.Tensor]]:
        """Each encoder's frozen states (list of (b, t, d)) and frame mask, run once."""
        return {name: self.encoders[name].states(waves, k) for name, k in upto.items()}

    @torch.no_grad()
    def predict_waves(self, waves: list[np.ndarray], batch_size: int = 8,
                      enrollment: list[np.ndarray] | None = None) -> np.ndarray:  # fmt: skip
        """Calibrated class probabilities (n, classes) for 16 kHz mono waveforms.

        ``enrollment``: clips of the one speaker of ``waves`` (unlabelled), required by models
        trained with speaker normalisation: their encoder statistics are standardised with
        this speaker's own mean and std, as in training.
        """
        waves, enrollment = self._trim(waves), self._trim(enrollment)
        order = np.argsort([len(w) for w in waves])
        out = np.zeros((len(waves), len(self.labels)), dtype=np.float32)
        upto = self._upto()
        spk = self._speaker_stats(enrollment, upto)
        for s in range(0, len(order), batch_size):
            sel = order[s : s + batch_size]
            batch = [waves[i] for i in sel]
            raw = extract(batch, self.extractor, batch_size) if self.extractor else None
            encoded = self._encode(batch, upto)
            probs = []
            for k, m in enumerate(self.members):
                feats = fmask = None
                if raw is not None:
                    feats, fmask = (t.to(self.device)
                                    for t in data.collate([m.stats.apply(f) for f in raw]))
                states, smask = encoded.get(m.meta["encoder"], (None, None))
                if m.encoder is None:
                    logits = m.model(feats, fmask)
                elif reads_pooled(m.model):
                    pooled = layer_stats([states[i] for i in m.model.ssl.layers], smask)
                    if k in spk:
                        mean, std = (torch.from_numpy(a).float().to(self.device)
                                     for a in spk[k])  # fmt: skip
                        pooled = (pooled - mean) / std
                    logits = m.model(feats, fmask, pooled=pooled)
                else:
                    st = states[: frozen_split(m.model) + 1]
                    logits = m.model(feats, fmask, st, smask)
                probs.append(F.softmax(logits.float(), -1).cpu().numpy())
            out[sel] = apply_temperature(soft_vote(probs), self.temperature)
        return out

    def _trim(self, waves: list[np.ndarray] | None) -> list[np.ndarray] | None:
        """Waves as the model was trained on them: with silence trimmed if it was."""
        return None if waves is None else [audio.trim_silence(w, self.trim_db) for w in waves]

    def _speaker_stats(self, enrollment: list[np.ndarray] | None,
                       upto: dict[str, int]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Per speaker-normalised member: (mean, std) of the enrollment clips' statistics."""
        needs = [k for k, m in enumerate(self.members) if m.meta.get("speaker_norm")]
        if not needs:
            return {}
        if not enrollment:
            raise ValueError("this model standardises each speaker's voice: pass enrollment "
                             "clips of the speaker (predict_waves(..., enrollment=[...]))")
        pooled: dict[str, list[torch.Tensor]] = {name: [] for name in upto}
        for s in range(0, len(enrollment), 8):
            for name, (states, smask) in self._encode(enrollment[s : s + 8], upto).items():
                pooled[name].append(layer_stats(states, smask))
        allp = {name: torch.cat(p).cpu().numpy() for name, p in pooled.items()}  # (n, layers, 2d)
        return {k: data.mean_std(allp[self.members[k].meta["encoder"]][
                    :, list(self.members[k].model.ssl.layers)])
                for k in needs}  # fmt: skip
