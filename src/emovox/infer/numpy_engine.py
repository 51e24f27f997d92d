"""Torch-free prediction for frozen-Whisper models (the bundled model's kind), in NumPy.

Why a second forward pass: importing torch takes 1.1-1.3 s on 2 CPU cores, most of a one-clip
`emovox predict`. A model whose encoder is frozen and pooled by mean+std needs only Whisper's
log-mel, conv stem and lower layers, the statistics and a small MLP: a few matrix products
NumPy does as fast. It reads the same files (the member checkpoints and the converted encoder
in the cache) and is tested to give the torch path's probabilities. Other models, or a
missing encoder cache, fall back to :mod:`emovox.infer.torch_engine`; the model
registry (:mod:`emovox.models`) says which.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from emovox import models
from emovox.audio.decode import SAMPLE_RATE
from emovox.audio.filters import mel_filterbank
from emovox.audio.frontend import Frontend
from emovox.infer.engine import Engine, Logits
from emovox.store import checkpoint, runs
from emovox.store.cache import CONVERTED_CONFIG, CONVERTED_WEIGHTS, encoder_dir
from emovox.store.integrity import ModelError


def erf(x: np.ndarray) -> np.ndarray:
    """erf from Numerical Recipes' Chebyshev fit of erfc (fractional error < 1.2e-7), enough
    for float32 GELU; NumPy has no erf and scipy.special would cost its import."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = t * np.exp(
        -z * z
        - 1.26551223
        + t
        * (
            1.00002368
            + t
            * (
                0.37409196
                + t
                * (
                    0.09678418
                    + t
                    * (
                        -0.18628806
                        + t
                        * (
                            0.27886807
                            + t
                            * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))
                        )
                    )
                )
            )
        )
    )
    return np.where(x >= 0, 1.0 - poly, poly - 1.0)


def gelu(x: np.ndarray) -> np.ndarray:
    return (0.5 * x * (1.0 + erf(x * np.float32(1 / np.sqrt(2))))).astype(np.float32)


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * w + b


def _conv1d(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int) -> np.ndarray:
    """Kernel-3, padding-1 convolution: (c_in, t) -> (c_out, t'), one matrix product."""
    xp = np.pad(x, ((0, 0), (1, 1)))
    t_out = (x.shape[1] - 1) // stride + 1
    cols = np.stack([xp[:, k : k + stride * (t_out - 1) + 1 : stride] for k in range(3)], 1)
    return w.reshape(w.shape[0], -1) @ cols.reshape(-1, t_out) + b[:, None]


def log_mel(wave: np.ndarray, fb: np.ndarray) -> np.ndarray:
    """Whisper's log-mel of one clip's real frames, (n_mels, len // 160), as
    :func:`emovox.models.encoders.whisper_log_mel` computes it."""
    y = np.pad(wave.astype(np.float32), 200, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(y, 400)[::160][: len(wave) // 160]
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)).astype(np.float32)
    spec = np.fft.rfft(frames * window, axis=1)
    power = (spec.real**2 + spec.imag**2).astype(np.float32).T  # (bins, frames)
    logm = np.log10(np.maximum(fb @ power, 1e-10))
    logm = np.maximum(logm, logm.max() - 8.0)
    return ((logm + 4.0) / 4.0).astype(np.float32)


class NumpyWhisper:
    """Whisper encoder layers 0..upto from the converted safetensors cache, NumPy forward."""

    def __init__(self, root: Path, upto: int) -> None:
        from safetensors import safe_open

        cfg = json.loads((root / CONVERTED_CONFIG).read_text())
        self.heads, self.n_layers, self.upto = cfg["n_heads"], cfg["n_layers"], upto
        with safe_open(str(root / CONVERTED_WEIGHTS), "np") as f:
            keep = [
                k for k in f.keys() if not k.startswith("layers.") or int(k.split(".")[1]) < upto
            ]
            self.w = {k: f.get_tensor(k) for k in keep}
        self.fb = mel_filterbank(SAMPLE_RATE, 400, cfg["n_mels"])

    def states(self, wave: np.ndarray) -> list[np.ndarray]:
        """Hidden states 0..upto of one clip, each (frames, d)."""
        w = self.w
        x = gelu(_conv1d(log_mel(wave, self.fb), w["conv1.weight"], w["conv1.bias"], 1))
        x = gelu(_conv1d(x, w["conv2.weight"], w["conv2.bias"], 2)).T  # (t, d)
        x = x + w["embed_positions.weight"][: len(x)]
        out = [x]
        t, d = x.shape
        hd = d // self.heads
        for i in range(self.upto):
            p = f"layers.{i}."
            h = _layer_norm(
                x, w[p + "self_attn_layer_norm.weight"], w[p + "self_attn_layer_norm.bias"]
            )
            q = h @ w[p + "self_attn.q_proj.weight"].T + w[p + "self_attn.q_proj.bias"]
            k = h @ w[p + "self_attn.k_proj.weight"].T
            v = h @ w[p + "self_attn.v_proj.weight"].T + w[p + "self_attn.v_proj.bias"]
            q, k, v = (a.reshape(t, self.heads, hd).transpose(1, 0, 2) for a in (q, k, v))
            s = q @ k.transpose(0, 2, 1) / np.float32(np.sqrt(hd))  # (heads, t, t)
            s = np.exp(s - s.max(-1, keepdims=True))
            a = ((s / s.sum(-1, keepdims=True)) @ v).transpose(1, 0, 2).reshape(t, d)
            x = x + a @ w[p + "self_attn.out_proj.weight"].T + w[p + "self_attn.out_proj.bias"]
            h = _layer_norm(x, w[p + "final_layer_norm.weight"], w[p + "final_layer_norm.bias"])
            h = gelu(h @ w[p + "fc1.weight"].T + w[p + "fc1.bias"])
            x = x + h @ w[p + "fc2.weight"].T + w[p + "fc2.bias"]
            out.append(x)
        if self.upto == self.n_layers:
            out[-1] = _layer_norm(out[-1], w["layer_norm.weight"], w["layer_norm.bias"])
        return out


class NumpyBackend:
    """Frozen-Whisper, mean+std-pooled members: the forward of each in NumPy
    (:class:`emovox.infer.engine.Backend`; the engine votes)."""

    reads_statistics = True

    def __init__(
        self, members: list[tuple[dict, dict]], encoder: NumpyWhisper, temperature: float
    ) -> None:
        self.members, self.encoder, self.temperature = members, encoder, temperature
        self.metas = [meta for meta, _ in members]
        self.threshold: float | None = None
        self.frontend = Frontend.from_meta(members[0][0])

    def member_inputs(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """Per member, the statistics it reads (n, layers * 2d), before its standardisation."""
        inputs: list[list[np.ndarray]] = [[] for _ in self.members]
        for wave in waves:
            states = self.encoder.states(self.frontend(wave))
            stats = [
                np.concatenate([s.mean(0), np.sqrt(np.maximum(s.var(0), 1e-8))]) for s in states
            ]
            for k, (meta, _) in enumerate(self.members):
                layers = meta["model_config"]["enc"]["layers"]
                inputs[k].append(np.concatenate([stats[j] for j in layers]))
        return [np.stack(x) if x else np.zeros((0, 0), np.float32) for x in inputs]

    def heads(self, k: int, x: np.ndarray, dimensions: bool) -> Logits:
        w = self.members[k][1]
        hidden = gelu(
            ((x - w["enc.norm_mean"]) / w["enc.norm_std"]) @ w["enc.mlp.1.weight"].T
            + w["enc.mlp.1.bias"]
        )
        logits = hidden @ w["head.weight"].T + w["head.bias"]
        if not dimensions or "dims.weight" not in w:
            return logits, None
        return logits, hidden @ w["dims.weight"].T + w["dims.bias"]

    def norm(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        w = self.members[k][1]
        return w["enc.norm_mean"], w["enc.norm_std"]

    def wave_logits(self, waves, heads):
        raise NotImplementedError("every member of a NumPy model reads statistics")


_NEEDED = (
    "enc.norm_mean",
    "enc.norm_std",
    "enc.mlp.1.weight",
    "enc.mlp.1.bias",
    "head.weight",
    "head.bias",
)


def _checked(stem: Path, meta: dict, w: dict) -> dict:
    """Member tensors that fit its metadata (the torch path's strict load, by hand)."""
    missing = [k for k in _NEEDED if k not in w]
    if missing:
        raise ModelError(stem, f"tensors missing: {', '.join(missing)}")
    labels, layers = meta.get("labels"), meta["model_config"]["enc"].get("layers")
    dim, hidden = w["enc.norm_mean"].shape[-1], w["enc.mlp.1.weight"].shape
    if not isinstance(labels, list) or w["head.weight"].shape[0] != len(labels):
        raise ModelError(stem, f"labels {labels!r} do not match the head's outputs")
    if hidden[1] != dim or w["head.weight"].shape[1] != hidden[0] or not layers:
        raise ModelError(stem, "tensor shapes do not fit together")
    return w


def _converted(encoder: str) -> Path:
    """Where the torch path leaves an encoder's weights converted for this engine."""
    return encoder_dir(encoder) / CONVERTED_WEIGHTS


def why_not(path: str | Path | None = None) -> str:
    """Why :func:`load` gives None for this model, in words a user can act on."""
    metas = runs.find_model(path).member_meta()
    name = str(path or "the bundled model")
    if not all(models.kind(m["model"]).numpy_predictable(m) for m in metas):
        return f"{name} needs torch (engine numpy runs frozen, mean+std pooled encoder heads)"
    missing = [e for e in {m["encoder"] for m in metas} if not _converted(e).exists()]
    if missing:
        return (
            f"{name}: the encoder {missing[0]} is not converted for engine numpy yet in "
            f"{encoder_dir(missing[0]).parent}; run once with --engine torch (or "
            "`emovox demo`), which converts it"
        )
    return f"{name} needs torch (its members differ in encoder or front end)"


def load(path: str | Path | None = None) -> Engine | None:
    """A torch-free engine for a model folder or run (default: the bundled model), or None
    when the model needs torch (another kind, fine-tuned layers, or an encoder not converted
    into the cache yet: the torch path converts it on first use)."""
    src = runs.find_model(path)
    metas = src.member_meta()
    kinds = [models.checked(stem, m) for m, stem in zip(metas, src.stems, strict=True)]
    if not all(k.numpy_predictable(m) for k, m in zip(kinds, metas, strict=True)):
        return None
    encoders = {m["encoder"] for m in metas}
    if len({Frontend.from_meta(m) for m in metas}) > 1:
        return None  # the torch path explains the mismatch
    weights = _converted(encoders.pop())
    if encoders or not weights.exists():
        return None
    members = [
        (m, _checked(stem, m, checkpoint.model_state(runs.read_tensors_numpy(stem))))
        for m, stem in zip(metas, src.stems, strict=True)
    ]
    upto = max(max(m["model_config"]["enc"]["layers"]) for m in metas)
    backend = NumpyBackend(members, NumpyWhisper(weights.parent, upto), src.temperature)
    backend.threshold = src.threshold
    return Engine(backend)
