"""Waveform augmentation for training only: pitch shift, time stretch, noise, gain.

Time stretch is a phase vocoder on a torch STFT (librosa's algorithm); pitch shift stretches
then resamples back to the original length with soxr. Each draw comes from the caller's
``numpy.random.Generator``, so an epoch's augmentations are a function of (seed, epoch).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import soxr
import torch


@dataclass(frozen=True)
class AugmentConfig:
    """Probability and range of each augmentation; ``enabled=False`` turns all off."""

    enabled: bool = True
    p_pitch: float = 0.2
    pitch_semitones: tuple[float, float] = (-2.0, 2.0)
    p_stretch: float = 0.2
    stretch_rate: tuple[float, float] = (0.85, 1.15)
    p_noise: float = 0.4
    snr_db: tuple[float, float] = (10.0, 30.0)
    p_gain: float = 0.4
    gain_db: tuple[float, float] = (-6.0, 6.0)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AugmentConfig:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def time_stretch(y: np.ndarray, rate: float, n_fft: int = 512, hop: int = 128) -> np.ndarray:
    """Phase-vocoder time stretch: ``rate`` > 1 is faster (shorter), pitch unchanged."""
    x = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))
    win = torch.hann_window(n_fft)
    spec = torch.stft(x, n_fft, hop, window=win, return_complex=True)  # (bins, t)
    steps = torch.arange(0, spec.shape[1], rate, dtype=torch.float64)
    spec = torch.nn.functional.pad(spec, (0, 2))
    lo = steps.floor().long()
    alpha = (steps - lo).float()
    mag = (1 - alpha) * spec[:, lo].abs() + alpha * spec[:, lo + 1].abs()
    advance = torch.linspace(0, math.pi * hop, spec.shape[0])[:, None]
    dphase = spec[:, lo + 1].angle() - spec[:, lo].angle() - advance
    dphase = dphase - 2 * math.pi * torch.round(dphase / (2 * math.pi))
    phase = torch.cat([spec[:, :1].angle(), (dphase + advance)[:, :-1]], dim=1).cumsum(dim=1)
    out = torch.istft(
        torch.polar(mag, phase), n_fft, hop, window=win, length=int(round(len(y) / rate))
    )
    return out.numpy()


def pitch_shift(y: np.ndarray, semitones: float, sr: int) -> np.ndarray:
    """Shift pitch by ``semitones`` keeping the duration (stretch, then resample)."""
    ratio = 2.0 ** (semitones / 12.0)
    stretched = time_stretch(y, 1.0 / ratio)
    out = soxr.resample(stretched, sr * ratio, sr, quality="HQ")
    return np.resize(out, len(y)).astype(np.float32) if len(out) != len(y) else out


def augment(y: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator, sr: int) -> np.ndarray:
    """One random augmentation of ``y``; each step fires with its probability.

    Returns ``y`` itself (the same object) when no step fires, so callers can reuse what they
    computed from the clean clip.
    """
    if not cfg.enabled:
        return y
    draws = rng.random(4)
    params = rng.random(4)
    if not (draws < [cfg.p_pitch, cfg.p_stretch, cfg.p_noise, cfg.p_gain]).any():
        return y

    def between(lo_hi: tuple[float, float], u: float) -> float:
        return lo_hi[0] + (lo_hi[1] - lo_hi[0]) * float(u)

    if draws[0] < cfg.p_pitch:
        y = pitch_shift(y, between(cfg.pitch_semitones, params[0]), sr)
    if draws[1] < cfg.p_stretch:
        y = time_stretch(y, between(cfg.stretch_rate, params[1]))
    if draws[2] < cfg.p_noise:
        power = float(np.mean(y**2)) + 1e-12
        snr = between(cfg.snr_db, params[2])
        noise = rng.standard_normal(len(y)).astype(np.float32)
        y = y + noise * np.float32(math.sqrt(power / 10 ** (snr / 10)))
    if draws[3] < cfg.p_gain:
        y = y * np.float32(10 ** (between(cfg.gain_db, params[3]) / 20))
    return np.clip(y, -1.0, 1.0).astype(np.float32)
