"""Recording conditions users meet, applied to a clean 16 kHz clip: noise of several colours,
babble, rooms, codecs, a telephone line, gain and clipping.

Training draws them for its cached augmented copies (:mod:`emovox.audio.augment`); the robustness
benchmark applies them at fixed strengths, with other noise draws and other rooms. Rooms come
from pyroomacoustics' image-source simulation, codecs and G.711 from FFmpeg (PyAV): well-kept
implementations of what they are, not approximations of ours.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence

import av
import numpy as np
import soxr
from scipy import signal

from emovox.audio.decode import SAMPLE_RATE as SR

COLOURS = ("white", "pink", "brown")
#: codec -> (container, sample rate it runs at, bitrates drawn from, bit/s)
CODECS = {
    "mp3": ("mp3", SR, (16_000, 24_000, 32_000)),
    "opus": ("ogg", SR, (8_000, 12_000, 16_000)),
    "aac": ("adts", SR, (16_000, 24_000, 32_000)),
}


def coloured_noise(n: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of white (flat), pink (1/f power) or brown (1/f^2) noise, unit RMS."""
    white = rng.standard_normal(n)
    if colour != "white":
        spec = np.fft.rfft(white)
        f = np.maximum(np.arange(len(spec)), 1.0)
        spec /= np.sqrt(f) if colour == "pink" else f
        white = np.fft.irfft(spec, n)
    return (white / (np.sqrt(np.mean(white**2)) + 1e-12)).astype(np.float32)


def mix(clean: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``clean`` plus ``noise`` (tiled or cut to length) scaled to ``snr_db`` below it."""
    noise = np.resize(noise, len(clean))
    p_clean = float(np.mean(clean.astype(np.float64) ** 2)) + 1e-12
    p_noise = float(np.mean(noise.astype(np.float64) ** 2)) + 1e-12
    scale = np.sqrt(p_clean / (p_noise * 10 ** (snr_db / 10)))
    return (clean + noise * np.float32(scale)).astype(np.float32)


def babble(
    pool: Sequence[np.ndarray], n: int, talkers: int, rng: np.random.Generator
) -> np.ndarray:
    """``talkers`` clips from ``pool`` (other speakers' speech), each at unit RMS, looped to
    ``n`` samples from a random offset and summed: the sound of a room of voices."""
    out = np.zeros(n, dtype=np.float32)
    for k in rng.choice(len(pool), size=min(talkers, len(pool)), replace=False):
        clip = np.asarray(pool[k], dtype=np.float32)
        clip = clip / (np.sqrt(np.mean(clip**2)) + 1e-9)
        out += np.roll(np.resize(clip, n), int(rng.integers(0, max(len(clip), 1))))
    return out


@functools.lru_cache(maxsize=256)
def room_impulse(rt60: float, seed: int) -> np.ndarray:
    """The impulse response of a simulated shoebox room with reverberation time ``rt60`` (s):
    room size and source/microphone positions drawn from ``seed``; direct path first."""
    import pyroomacoustics as pra  # loaded when a room is first asked for

    rng = np.random.default_rng(seed)
    dims = rng.uniform([3.0, 3.0, 2.4], [9.0, 7.0, 3.5])
    absorption, max_order = pra.inverse_sabine(rt60, dims)
    room = pra.ShoeBox(
        dims, fs=SR, materials=pra.Material(absorption), max_order=min(max_order, 60)
    )
    room.add_source(rng.uniform(0.5, dims - 0.5))
    room.add_microphone(rng.uniform(0.5, dims - 0.5))
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], dtype=np.float64)
    rir = rir[int(np.argmax(np.abs(rir))) :]  # no propagation delay: the words stay in place
    return (rir / np.max(np.abs(rir))).astype(np.float32)


def reverberate(clean: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """``clean`` in the room of ``rir``, same length, same RMS."""
    wet = signal.fftconvolve(clean, rir)[: len(clean)]
    rms_in = np.sqrt(np.mean(clean.astype(np.float64) ** 2))
    rms_out = np.sqrt(np.mean(wet**2)) + 1e-12
    return (wet * (rms_in / rms_out)).astype(np.float32)


def through_codec(
    wave: np.ndarray, codec: str, container: str, rate: int, bitrate: int | None = None
) -> np.ndarray:
    """``wave`` (16 kHz) encoded with FFmpeg's ``codec`` at ``rate`` Hz and ``bitrate`` into
    ``container`` in memory, decoded again and brought back to 16 kHz, same length."""
    x = wave if rate == SR else soxr.resample(wave, SR, rate)
    # a codec works in frames (AAC: 1024 samples plus its priming): a clip shorter than a few
    # frames would come back empty, so it is encoded with silence after it, then cut
    x = np.pad(x, (0, max(0, rate // 4 - len(x))))
    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        if bitrate:
            stream.bit_rate = bitrate
        fmt = stream.codec_context.codec.audio_formats[0].name
        frame = av.AudioFrame.from_ndarray(
            np.clip(x, -1, 1).astype(np.float32)[None], format="flt", layout="mono"
        )
        frame.sample_rate = rate
        resampler = av.AudioResampler(format=fmt, layout="mono", rate=rate)
        for f in [*resampler.resample(frame), *resampler.resample(None)]:
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))
    buf.seek(0)
    with av.open(buf, "r", format=container, metadata_errors="replace") as inp:
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in inp.decode(audio=0)]).astype(
            np.float32
        )
        got = inp.streams.audio[0].codec_context.sample_rate
    if pcm.dtype.kind != "f" or np.abs(pcm).max(initial=0) > 2:
        pcm = pcm / 32768.0
    y = pcm if got == SR else soxr.resample(pcm, got, SR)
    return np.resize(y, len(wave)).astype(np.float32) if len(y) != len(wave) else y


def codec(wave: np.ndarray, name: str, bitrate: int) -> np.ndarray:
    """``wave`` through a lossy codec of :data:`CODECS` at ``bitrate`` bit/s."""
    container, rate, _ = CODECS[name]
    return through_codec(wave, name if name != "opus" else "libopus", container, rate, bitrate)


def telephone(wave: np.ndarray) -> np.ndarray:
    """A narrow-band telephone line: 300-3400 Hz band, 8 kHz, G.711 mu-law, back to 16 kHz."""
    sos = signal.butter(4, [300, 3400], btype="bandpass", fs=SR, output="sos")
    band = signal.sosfilt(sos, wave).astype(np.float32)
    return through_codec(band, "pcm_mulaw", "wav", 8000)


def gain(wave: np.ndarray, db: float, clip: bool = True) -> np.ndarray:
    """``wave`` ``db`` louder (or quieter); with ``clip``, cut at full scale like a converter."""
    y = wave * np.float32(10 ** (db / 20))
    return np.clip(y, -1.0, 1.0).astype(np.float32) if clip else y.astype(np.float32)
