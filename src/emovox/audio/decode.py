"""Decode, resample and validate audio: the only module that knows file formats.

libsndfile reads what it knows (WAV, FLAC, OGG, MP3, AIFF); FFmpeg, through PyAV's wheel, the
rest (M4A, AAC, MP4, WebM/Opus, a video file's audio track). Long recordings can be read block by
block (:func:`stream`). Every failure is an :class:`AudioError` subclass whose message names the
file and the cause in plain words, so a batch run can report a bad file and carry on.
"""

from __future__ import annotations

import glob
import io
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

Source = str | os.PathLike | bytes

#: the one sample rate inside emovox (Hz): what every model, the speech detector and the front
#: end work at; inputs at any other rate are converted on decoding
SAMPLE_RATE = 16000

#: File name endings taken as audio when a folder is given (libsndfile's and FFmpeg's)
AUDIO_SUFFIXES = frozenset(
    ".wav .flac .ogg .oga .opus .mp3 .aiff .aif .m4a .aac .mp4 .m4v .mov .webm .mkv .mka "
    ".wma .amr .3gp .caf".split()
)


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


class TruncatedWarning(UserWarning):
    """The file ends before its header says it does: what decodes is used."""


@dataclass(frozen=True)
class AudioLimits:
    """Bounds a clip must meet; the defaults accept clips and long recordings alike."""

    min_seconds: float = 0.1
    # recordings stream, so length costs time, not memory: the bound is a guard against
    # mistakes (and, for a server, against one upload holding a worker for hours)
    max_seconds: float = 4 * 3600.0
    silence_peak: float = 1e-4  # peak amplitude below this (-80 dBFS) counts as silent
    quiet_peak: float = 10 ** (-45 / 20)  # no speech found under this peak: "too quiet"
    clip_level: float = 0.999
    clip_fraction: float = 0.001  # warn when more than 0.1% of samples are at full scale


def _name(source: Source) -> str:
    return "<bytes>" if isinstance(source, bytes | bytearray) else str(source)


class _SoundFile:
    """libsndfile's reader (WAV, FLAC, OGG/Vorbis, MP3, AIFF...): exact frame counts."""

    def __init__(self, f: sf.SoundFile) -> None:
        self.f, self.samplerate, self.channels = f, f.samplerate, f.channels
        self.frames: int | None = f.frames

    def blocks(self, n: int) -> Iterator[np.ndarray]:
        """(samples, channels) float32 blocks of ``n`` samples (the last may be shorter)."""
        while True:
            data = self.f.read(n, dtype="float32", always_2d=True)
            if not len(data):
                return
            yield data

    def close(self) -> None:
        self.f.close()


class _FFmpeg:
    """FFmpeg's decoders through PyAV (M4A, AAC, MP4, WebM/Opus, video files' audio track)."""

    def __init__(self, target: object, name: str) -> None:
        import av

        # tags are not ours to judge: a file whose tags are Latin-1, not UTF-8 (old taggers
        # write them so) is still good audio, so undecodable tag bytes are replaced
        self.container = av.open(target, metadata_errors="replace")
        audio_streams = self.container.streams.audio
        if not audio_streams:
            self.container.close()
            raise AudioDecodeError(name, "has no audio track")
        self.stream, self.name, self.decoded_any = audio_streams[0], name, False
        self.samplerate = self.stream.rate or self.stream.codec_context.sample_rate
        self.channels = self.stream.codec_context.channels or 1
        seconds = None
        if self.stream.duration is not None and self.stream.time_base is not None:
            seconds = float(self.stream.duration * self.stream.time_base)
        elif self.container.duration is not None:
            seconds = self.container.duration / av.time_base
        self.frames = int(round(seconds * self.samplerate)) if seconds else None

    def blocks(self, n: int) -> Iterator[np.ndarray]:
        import av

        pending: list[np.ndarray] = []
        held = 0
        try:
            for frame in self.container.decode(self.stream):
                data = frame.to_ndarray()  # (channels, samples) planar or (1, samples*ch) packed
                if not frame.format.is_planar:
                    data = data.reshape(-1, len(frame.layout.channels)).T
                pending.append(np.ascontiguousarray(data.T, dtype=np.float32))
                self.decoded_any = True
                held += pending[-1].shape[0]
                if held >= n:
                    block = np.concatenate(pending)
                    yield block[:n]
                    pending, held = [block[n:]], len(block) - n
        except av.error.FFmpegError as exc:
            raise AudioDecodeError(self.name, f"corrupt audio data ({exc})") from None
        if held:
            yield np.concatenate(pending)
        elif not self.decoded_any:
            # FFmpeg guesses a format for nearly any bytes (text, random data); nothing decoded
            # from a guess means the file is not audio
            raise AudioDecodeError(self.name, "not a readable audio file or corrupt")

    def close(self) -> None:
        self.container.close()


def _open(source: Source) -> _SoundFile | _FFmpeg:
    """A reader for ``source``: libsndfile when it knows the format, else FFmpeg."""
    name = _name(source)
    if not isinstance(source, bytes | bytearray):
        path = Path(source)
        if not path.exists():
            raise AudioMissingError(name, _missing(path))
        if path.is_dir():
            raise AudioDecodeError(name, "is a directory, not an audio file")
        if path.stat().st_size == 0:
            raise AudioEmptyError(name, "file is empty (0 bytes)")
        target: object = str(path)
    else:
        if len(source) == 0:
            raise AudioEmptyError(name, "no bytes given")
        target = io.BytesIO(source)
    sf_error: Exception | None = None
    if not _fake_mp3(source):
        try:
            return _SoundFile(sf.SoundFile(target))
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            sf_error = exc
    if isinstance(target, io.BytesIO):
        target.seek(0)
    try:
        return _FFmpeg(target, name)
    except AudioError:
        raise
    except Exception:  # noqa: BLE001 - PyAV raises many kinds for a file that is not media
        # libsndfile's words, without the path; not its "does not exist" for a file that does
        reason = str(sf_error or "").rsplit(": ", 1)[-1].rstrip(".")
        said = f" ({reason})" if reason and "does not exist" not in reason else ""
        raise AudioDecodeError(name, f"not a readable audio file or corrupt{said}") from None


def _missing(path: Path) -> str:
    """Why ``path`` cannot be opened: a link to nothing, a pattern that matched nothing..."""
    if path.is_symlink():
        return f"a symbolic link to {os.readlink(path)}, which does not exist"
    if glob.has_magic(str(path)):
        return "no file matches this pattern"
    return "file not found"


def _fake_mp3(source: Source) -> bool:
    """A file named .mp3 whose bytes do not start as MP3 does (an ID3 tag or a frame sync):
    libsndfile's mpg123 would print its own lines on stderr trying to find a frame in it, so
    FFmpeg alone judges it."""
    if isinstance(source, bytes | bytearray) or not str(source).lower().endswith(".mp3"):
        return False
    try:
        with open(source, "rb") as f:
            head = f.read(3)
    except OSError:
        return False
    return not (head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF
                                            and head[1] & 0xE0 == 0xE0))  # fmt: skip


def info(source: Source) -> tuple[int, int, float]:
    """(sample rate, channels, duration in seconds) from the header, without decoding; the
    duration is 0.0 where the container does not say."""
    reader = _open(source)
    try:
        frames = reader.frames or 0
        return reader.samplerate, reader.channels, frames / reader.samplerate if frames else 0.0
    finally:
        reader.close()


def _check_length(reader, name: str, limits: AudioLimits) -> None:
    seconds = reader.frames / reader.samplerate if reader.frames and reader.samplerate else 0.0
    if seconds > limits.max_seconds:
        raise AudioTooLongError(name, _too_long(limits, f"{seconds:.1f} s is longer"))


def _too_long(limits: AudioLimits, what: str = "longer") -> str:
    return (
        f"{what} than the maximum of {limits.max_seconds:.0f} s "
        "(raise it with --max-seconds, or AudioLimits(max_seconds=...) in Python)"
    )


def _mono(data: np.ndarray, name: str, offset: int = 0) -> np.ndarray:
    """Channels averaged; NaN or infinite samples refused."""
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(mono).all():
        bad = int((~np.isfinite(mono)).sum())
        where = f" (from sample {offset})" if offset else ""
        raise AudioNonFiniteError(name, f"{bad} samples are NaN or infinite{where}")
    return mono


def _read_all(source: Source, name: str, limits: AudioLimits) -> tuple[np.ndarray, int]:
    """Every sample of ``source`` as (samples, channels) float32, and its sample rate."""
    reader = _open(source)
    try:
        _check_length(reader, name, limits)
        cap = int(limits.max_seconds * reader.samplerate) + 1
        parts, total = [], 0
        try:
            for block in reader.blocks(1 << 20):
                parts.append(block)
                total += len(block)
                if total > cap:  # the header did not say, or said less than the data holds
                    raise AudioTooLongError(name, _too_long(limits))
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioDecodeError(name, f"corrupt audio data ({exc})") from None
        data = np.concatenate(parts) if parts else np.zeros((0, max(reader.channels, 1)), "f4")
        return data, reader.samplerate
    finally:
        reader.close()


def load(source: Source, sr: int = SAMPLE_RATE, limits: AudioLimits | None = None) -> np.ndarray:
    """Decode ``source`` (a path or the file's bytes) to float32 mono at ``sr`` Hz.

    Channels are averaged, the rate is converted with soxr, and the result is validated against
    ``limits``. Raises an :class:`AudioError` subclass on any problem; warns on clipping.
    """
    limits = limits or AudioLimits()
    name = _name(source)
    data, native_sr = _read_all(source, name, limits)
    if data.shape[0] == 0:
        raise AudioEmptyError(name, "decodes to zero samples")
    truncated = truncation(source)
    if truncated:
        warnings.warn(f"{name}: {truncated}", TruncatedWarning, stacklevel=2)
    mono = _mono(data, name)
    seconds = mono.shape[0] / native_sr
    if seconds < limits.min_seconds:
        raise AudioTooShortError(
            name, f"{seconds:.3f} s is shorter than the minimum of {limits.min_seconds:.3f} s"
        )
    peak = float(np.abs(mono).max())
    if peak < limits.silence_peak:
        raise AudioSilentError(name, f"silent (peak amplitude {peak:.2e})")
    _warn_if_clipped(mono, name, limits)
    if native_sr != sr:
        mono = soxr.resample(mono, native_sr, sr, quality="HQ").astype(np.float32, copy=False)
    return np.ascontiguousarray(mono, dtype=np.float32)


def _warn_if_clipped(mono: np.ndarray, name: str, limits: AudioLimits) -> None:
    clipped = float((np.abs(mono) >= limits.clip_level).mean())
    if clipped > limits.clip_fraction:
        warnings.warn(
            f"{name}: {clipped:.2%} of samples at full scale, probably clipped",
            ClippingWarning,
            stacklevel=3,
        )


def stream(
    source: Source,
    sr: int = SAMPLE_RATE,
    block_seconds: float = 30.0,
    limits: AudioLimits | None = None,
) -> Iterator[np.ndarray]:
    """``source`` as consecutive float32 mono blocks at ``sr`` Hz, ``block_seconds`` long
    (the last shorter), decoded and resampled block by block: a long recording is never held
    whole. Validates as :func:`load` does, except that silence and clipping are the caller's
    to judge (a long recording may hold both)."""
    limits = limits or AudioLimits()
    name = _name(source)
    reader = _open(source)
    try:
        _check_length(reader, name, limits)
        native = reader.samplerate
        resampler = soxr.ResampleStream(native, sr, 1, dtype="float32", quality="HQ")
        cap, seen = int(limits.max_seconds * native) + 1, 0
        for block in reader.blocks(max(1, int(block_seconds * native))):
            mono = _mono(block, name, seen)
            seen += len(mono)
            if seen > cap:
                raise AudioTooLongError(name, _too_long(limits))
            out = mono if native == sr else resampler.resample_chunk(mono)
            if len(out):
                yield np.ascontiguousarray(out, dtype=np.float32)
        if native != sr:
            tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            if len(tail):
                yield tail.astype(np.float32)
        if seen == 0:
            raise AudioEmptyError(name, "decodes to zero samples")
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioDecodeError(name, f"corrupt audio data ({exc})") from None
    finally:
        reader.close()


def truncation(source: Source) -> str | None:
    """What is wrong when a WAV's RIFF header promises more bytes than the file holds (it was
    cut off: libsndfile reads what is there without a word), else None. Everything that reads
    audio warns with this and analyses what decodes."""
    try:
        if isinstance(source, bytes | bytearray):
            head, size = bytes(source[:12]), len(source)
        else:
            with open(source, "rb") as fh:
                head = fh.read(12)
            size = Path(source).stat().st_size
    except OSError:
        return None  # the reader reports a file it cannot open
    if len(head) == 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        declared = int.from_bytes(head[4:8], "little") + 8
        if size < declared:
            return f"truncated: header declares {declared} bytes, file holds {size}"
    return None


def mono_wave(wave, sr) -> np.ndarray | str:
    """``wave`` as finite float32 mono samples, or what is wrong with it (a user's array may
    be anything: ints, strings, (channels, samples), NaN)."""
    if isinstance(sr, bool) or not isinstance(sr, int | np.integer) or not 0 < sr <= 768_000:
        return f"sample rate must be a whole number of Hz in 1..768000, not {sr!r}"
    wave = np.asarray(wave)
    if wave.dtype.kind not in "iuf":
        return f"a wave holds real numbers (int or float samples), not {wave.dtype}"
    if wave.dtype.kind in "iu":  # PCM samples, scaled as a decoder would
        info = np.iinfo(wave.dtype)
        wave = (wave.astype(np.float64) - (info.max + 1 if info.min == 0 else 0)) / (info.max + 1)
    if wave.ndim == 2 and 0 < min(wave.shape) <= 16:
        wave = wave.mean(axis=int(np.argmin(wave.shape)))  # the short axis holds the channels
    if wave.ndim != 1:
        return f"a wave is (samples,) or (samples, channels), not {wave.shape}"
    wave = wave.astype(np.float32)
    if not np.isfinite(wave).all():
        return f"{int((~np.isfinite(wave)).sum())} samples are NaN or infinite"
    return wave
