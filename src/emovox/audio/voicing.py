"""Voiced speech that Silero misses: shouted, screamed, strained or very soft voices.

Silero's detector gives shouted and screamed speech, and some soft, breathy speech,
probabilities near zero (RAVDESS's strong-intensity fear and anger, ASED's sad clips). What such
speech still has is a voice: periodic frames (a pitch) whose pitch glides from frame to frame,
louder than the recording's own floor. Tones, mains hum and music are periodic too, but
their pitch holds still within a note, so a run of voiced frames counts as speech only when its
pitch moves (``benchmarks/detector.py`` measures both sides).

Per 32 ms frame (Silero's): the level (dBFS), the voicing (one minus the minimum of YIN's
cumulative-mean-normalised difference over 60-1000 Hz) and the pitch at that minimum. Written
here over NumPy's FFT rather than with librosa's ``yin``: librosa loads numba and is not a
dependency of the torch-free engine, and the detector reads a recording block by block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emovox.audio.decode import SAMPLE_RATE as SR

FRAME = 512  # samples per frame: Silero's
LAG_MIN, LAG_MAX = SR // 1000, SR // 60  # pitch periods searched: 1000 Hz down to 60 Hz
_WINDOW = 2 * FRAME  # each frame is analysed with the frame before it (low voices' periods)
_FFT = 2 * _WINDOW
_SILENT_DB = -100.0  # frames below this (digital silence, padding) do not set the floor


@dataclass(frozen=True)
class VoicingConfig:
    """When voiced frames are speech (defaults measured: docs/analysis.md)."""

    voicing: float = 0.7  # a frame at or above this is voiced (1: perfectly periodic)
    above_floor: float = 10.0  # dB over the recording's floor (its 10th-percentile frame)
    min_level: float = -60.0  # dBFS: quieter frames are never taken for a voice
    gap: int = 5  # unvoiced frames (160 ms: a consonant, a breath) that do not end a run
    min_voiced: int = 8  # voiced frames (256 ms) a run needs
    movement: float = 0.08  # semitones: the run's median pitch change from frame to frame


def frame_cues(frames: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """(level dBFS, voicing, pitch Hz) of each row of ``frames`` (n, FRAME), as (n, 3), each
    analysed with the frame before it (``previous``: the one before the first)."""
    frames = np.asarray(frames, dtype=np.float32)
    before = np.concatenate([previous[None].astype(np.float32), frames[:-1]])
    win = np.concatenate([before, frames], axis=1)
    win = win - win.mean(1, keepdims=True)
    # periodicity does not depend on scale: each window at unit peak, so that no sample value
    # (a file may hold 1e30) overflows the power spectrum
    win = win / np.maximum(np.abs(win).max(1, keepdims=True), 1e-20)
    level = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, 1) + 1e-12)
    power = np.abs(np.fft.rfft(win, _FFT, axis=1)) ** 2
    lags = np.arange(LAG_MAX + 2)
    r = np.fft.irfft(power, _FFT, axis=1)[:, : LAG_MAX + 2] * (_WINDOW / (_WINDOW - lags))
    d = 2 * (r[:, :1] - r)  # YIN's difference function from the autocorrelation
    mean_d = np.cumsum(d[:, 1:], 1) / lags[1:]
    cmndf = np.ones_like(d)
    cmndf[:, 1:] = d[:, 1:] / np.maximum(mean_d, 1e-12)
    rows = np.arange(len(frames))
    best = cmndf[:, LAG_MIN : LAG_MAX + 1].argmin(1) + LAG_MIN
    voicing = np.clip(1 - cmndf[rows, best], 0, 1)
    voicing[level < _SILENT_DB] = 0
    a, b, c = cmndf[rows, best - 1], cmndf[rows, best], cmndf[rows, best + 1]
    curve = a - 2 * b + c  # the minimum between lags, by a parabola through its neighbours
    shift = np.where(np.abs(curve) > 1e-9, 0.5 * (a - c) / np.where(curve == 0, 1, curve), 0)
    pitch = SR / (best + np.clip(shift, -1, 1))
    return np.stack([level, voicing, pitch], axis=1).astype(np.float32)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def voiced_speech(cues: np.ndarray, cfg: VoicingConfig | None = None) -> np.ndarray:
    """Which frames are voiced speech (bool, (n,)), from :func:`frame_cues` of a whole
    recording: runs of voiced frames over the recording's floor, joined across gaps of up to
    ``gap`` frames, with ``min_voiced`` voiced frames and a moving pitch."""
    cfg = cfg or VoicingConfig()
    level, voicing, pitch = cues[:, 0], cues[:, 1], cues[:, 2]
    heard = level > _SILENT_DB
    floor = float(np.percentile(level[heard], 10)) if heard.any() else _SILENT_DB
    voiced = (voicing >= cfg.voicing) & (level >= floor + cfg.above_floor)
    voiced &= level >= cfg.min_level
    joined = voiced.copy()
    for a, b in _runs(~voiced):
        if b - a <= cfg.gap and a > 0 and b < len(voiced):
            joined[a:b] = True
    out = np.zeros(len(voiced), dtype=bool)
    for a, b in _runs(joined):
        v = voiced[a:b]
        if v.sum() < cfg.min_voiced:
            continue
        steps = 12 * np.abs(np.diff(np.log2(pitch[a:b])))[v[1:] & v[:-1]]
        steps = steps[steps < 3]  # a jump of an octave or more is the tracker's, not the voice's
        if len(steps) >= 3 and np.median(steps) >= cfg.movement:
            out[a:b] = True
    return out
