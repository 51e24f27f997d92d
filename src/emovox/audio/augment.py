"""Waveform augmentation for training only: pitch shift, time stretch, noise, gain, and the
recording conditions of :mod:`emovox.audio.degrade` (rooms, babble, coloured noise, codecs,
telephone, clipping).

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

from emovox.audio import degrade

#: Simulated training rooms per reverberation time; the robustness benchmark's rooms are
#: drawn from other seeds.
ROOMS = 8


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
    # recording conditions (emovox.audio.degrade), applied after the steps above, in this order
    p_room: float = 0.0  # a simulated room (one of ROOMS per reverberation time)
    rt60: tuple[float, float] = (0.2, 0.8)
    p_babble: float = 0.0  # 3-6 other training speakers talking at once
    babble_snr_db: tuple[float, float] = (0.0, 20.0)
    p_colour_noise: float = 0.0  # white, pink or brown noise
    noise_snr_db: tuple[float, float] = (0.0, 20.0)
    p_channel: float = 0.0  # a lossy codec (MP3, Opus, AAC at low bitrates) or, one in four,
    #   a telephone line (G.711)
    p_clip: float = 0.0  # driven this far above full scale, then clipped
    clip_db: tuple[float, float] = (2.0, 12.0)

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


def augment(
    y: np.ndarray,
    cfg: AugmentConfig,
    rng: np.random.Generator,
    sr: int,
    pool: list[np.ndarray] | None = None,
) -> np.ndarray:
    """One random augmentation of ``y``; each step fires with its probability. ``pool``:
    other speakers' clips, what babble is made of (no babble without it).

    Returns ``y`` itself (the same object) when no step fires, so callers can reuse what they
    computed from the clean clip.
    """
    if not cfg.enabled:
        return y
    out = _voice(y, cfg, rng, sr)
    if (cfg.p_room, cfg.p_babble, cfg.p_colour_noise, cfg.p_channel, cfg.p_clip) != (0,) * 5:
        out = _conditions(out, cfg, rng, pool or [])
    return out


def _between(lo_hi: tuple[float, float], u: float) -> float:
    return lo_hi[0] + (lo_hi[1] - lo_hi[0]) * float(u)


def _voice(y: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator, sr: int) -> np.ndarray:
    """Pitch, tempo, white noise and gain (the first augmentations; their draws unchanged)."""
    draws = rng.random(4)
    params = rng.random(4)
    if not (draws < [cfg.p_pitch, cfg.p_stretch, cfg.p_noise, cfg.p_gain]).any():
        return y
    if draws[0] < cfg.p_pitch:
        y = pitch_shift(y, _between(cfg.pitch_semitones, params[0]), sr)
    if draws[1] < cfg.p_stretch:
        y = time_stretch(y, _between(cfg.stretch_rate, params[1]))
    if draws[2] < cfg.p_noise:
        power = float(np.mean(y**2)) + 1e-12
        snr = _between(cfg.snr_db, params[2])
        noise = rng.standard_normal(len(y)).astype(np.float32)
        y = y + noise * np.float32(math.sqrt(power / 10 ** (snr / 10)))
    if draws[3] < cfg.p_gain:
        y = y * np.float32(10 ** (_between(cfg.gain_db, params[3]) / 20))
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def _conditions(
    y: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator, pool: list[np.ndarray]
) -> np.ndarray:
    """A room, babble, coloured noise, a channel and clipping, each with its probability."""
    draws, u = rng.random(5), rng.random(5)
    out = y
    if draws[0] < cfg.p_room:
        rt60 = round(_between(cfg.rt60, u[0]), 1)
        out = degrade.reverberate(out, degrade.room_impulse(rt60, int(rng.integers(ROOMS))))
    if draws[1] < cfg.p_babble and pool:
        noise = degrade.babble(pool, len(out), int(rng.integers(3, 7)), rng)
        out = degrade.mix(out, noise, _between(cfg.babble_snr_db, u[1]))
    if draws[2] < cfg.p_colour_noise:
        noise = degrade.coloured_noise(len(out), str(rng.choice(degrade.COLOURS)), rng)
        out = degrade.mix(out, noise, _between(cfg.noise_snr_db, u[2]))
    if draws[3] < cfg.p_channel:
        out = _channel(out, rng)
    if draws[4] < cfg.p_clip:
        peak = float(np.abs(out).max()) + 1e-9
        out = degrade.gain(out / peak, _between(cfg.clip_db, u[4]))
    return out


def _channel(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A telephone line one time in four, else a codec of ``degrade.CODECS`` at a low rate."""
    if rng.random() < 0.25:
        return degrade.telephone(y)
    name = str(rng.choice(list(degrade.CODECS)))
    return degrade.codec(y, name, int(rng.choice(degrade.CODECS[name][2])))
