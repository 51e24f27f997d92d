"""Decode, resample and validate audio: the only module that knows file formats.

Every failure is an :class:`AudioError` subclass whose message names the file and the cause in
plain words, so a batch run can report a bad file and carry on with the others.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

Source = str | os.PathLike | bytes


class AudioError(Exception):
    """A file that cannot be used as speech input; ``path`` and ``cause`` say which and why."""

    def __init__(self, path: str, cause: str) -> None:
        super().__init__(f"{path}: {cause}")
        self.path = path
        self.cause = cause


class AudioMissingError(AudioError):
    """The file does not exist."""


class AudioDecodeError(AudioError):
    """The file is not audio, or is corrupt or truncated."""


class AudioEmptyError(AudioError):
    """The file decodes to zero samples."""


class AudioTooShortError(AudioError):
    """Shorter than the configured minimum."""


class AudioTooLongError(AudioError):
    """Longer than the configured maximum (checked from the header, before decoding)."""


class AudioNonFiniteError(AudioError):
    """NaN or infinite samples."""


class AudioSilentError(AudioError):
    """Every sample is (near) zero."""


class ClippingWarning(UserWarning):
    """Many samples sit at full scale: the recording was probably clipped."""


@dataclass(frozen=True)
class AudioLimits:
    """Bounds a clip must meet; the defaults accept clips and long recordings alike."""

    min_seconds: float = 0.1
    max_seconds: float = 3600.0
    silence_peak: float = 1e-4  # peak amplitude below this (-80 dBFS) counts as silent
    clip_level: float = 0.999
    clip_fraction: float = 0.001  # warn when more than 0.1% of samples are at full scale


def _name(source: Source) -> str:
    return "<bytes>" if isinstance(source, bytes | bytearray) else str(source)


def _open(source: Source) -> sf.SoundFile:
    name = _name(source)
    if not isinstance(source, bytes | bytearray):
        path = Path(source)
        if not path.exists():
            raise AudioMissingError(name, "file not found")
        if path.is_dir():
            raise AudioDecodeError(name, "is a directory, not an audio file")
        if path.stat().st_size == 0:
            raise AudioEmptyError(name, "file is empty (0 bytes)")
        target: object = str(path)
    else:
        if len(source) == 0:
            raise AudioEmptyError(name, "no bytes given")
        target = io.BytesIO(source)
    try:
        return sf.SoundFile(target)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioDecodeError(name, f"not a readable audio file or corrupt ({exc})") from None


def info(source: Source) -> tuple[int, int, float]:
    """(sample rate, channels, duration in seconds) from the header, without decoding."""
    with _open(source) as f:
        return f.samplerate, f.channels, f.frames / f.samplerate if f.samplerate else 0.0


def load(source: Source, sr: int = 16000, limits: AudioLimits | None = None) -> np.ndarray:
    """Decode ``source`` (a path or the file's bytes) to float32 mono at ``sr`` Hz.

    Channels are averaged, the rate is converted with soxr, and the result is validated against
    ``limits``. Raises an :class:`AudioError` subclass on any problem; warns on clipping.
    """
    limits = limits or AudioLimits()
    name = _name(source)
    with _open(source) as f:
        native_sr, expected = f.samplerate, f.frames
        if native_sr > 0 and expected / native_sr > limits.max_seconds:
            raise AudioTooLongError(
                name,
                f"{expected / native_sr:.1f} s is longer than the maximum of "
                f"{limits.max_seconds:.1f} s (split the recording or raise max_seconds)",
            )
        try:
            data = f.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioDecodeError(name, f"corrupt audio data ({exc})") from None
    if data.shape[0] == 0:
        raise AudioEmptyError(name, "decodes to zero samples")
    _check_riff_size(source, name)
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(mono).all():
        bad = int((~np.isfinite(mono)).sum())
        raise AudioNonFiniteError(name, f"{bad} samples are NaN or infinite")
    seconds = mono.shape[0] / native_sr
    if seconds < limits.min_seconds:
        raise AudioTooShortError(
            name, f"{seconds:.3f} s is shorter than the minimum of {limits.min_seconds:.3f} s"
        )
    peak = float(np.abs(mono).max())
    if peak < limits.silence_peak:
        raise AudioSilentError(name, f"silent (peak amplitude {peak:.2e})")
    clipped = float((np.abs(mono) >= limits.clip_level).mean())
    if clipped > limits.clip_fraction:
        warnings.warn(
            f"{name}: {clipped:.2%} of samples at full scale, probably clipped",
            ClippingWarning,
            stacklevel=2,
        )
    if native_sr != sr:
        mono = soxr.resample(mono, native_sr, sr, quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(mono, dtype=np.float32)


def _check_riff_size(source: Source, name: str) -> None:
    """A WAV whose RIFF header promises more bytes than the file holds was cut off.

    libsndfile silently reads what is there, so this is checked from the header itself.
    """
    if isinstance(source, bytes | bytearray):
        head, size = bytes(source[:12]), len(source)
    else:
        with open(source, "rb") as fh:
            head = fh.read(12)
        size = Path(source).stat().st_size
    if len(head) == 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        declared = int.from_bytes(head[4:8], "little") + 8
        if size < declared:
            raise AudioDecodeError(
                name, f"truncated: header declares {declared} bytes, file holds {size}"
            )


def trim_silence(
    wave: np.ndarray, top_db: float, frame_length: int = 512, hop_length: int = 160
) -> np.ndarray:
    """``wave`` without its leading and trailing silence (``top_db`` <= 0: ``wave`` itself).

    librosa.effects.trim's rule (centred frames, zero padding): keep from the first to the end
    of the last frame whose mean power is within ``top_db`` of the loudest frame's. Frame power
    comes from a running sum, so a long recording needs no (frames, frame_length) copy.
    """
    if top_db <= 0:
        return wave
    pad = frame_length // 2
    power = np.concatenate([[0.0], np.cumsum(np.pad(wave.astype(np.float64), pad) ** 2)])
    starts = np.arange(0, len(power) - frame_length, hop_length)
    mse = (power[starts + frame_length] - power[starts]) / frame_length  # (frames,)
    db = 10 * np.log10(np.maximum(mse, 1e-10))
    loud = np.flatnonzero(db > db.max() - top_db)  # the loudest frame at least
    return wave[loud[0] * hop_length : min(len(wave), (loud[-1] + 1) * hop_length)]
