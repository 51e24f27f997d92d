"""Hostile inputs for emovox's entry points, shared by tests/integration/test_fuzz.py and
benchmarks/fuzz.py: valid seed files in five formats, their mutations, random bytes, and
waves with extreme values, wrong dtypes and wrong shapes.

Every entry point must answer each with a result or a typed error whose message names the
input; :func:`outcome` sorts what came back and raises on anything else.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
import soundfile as sf
from hypothesis import strategies as st

SR = 16000


def _speechlike(seconds: float, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(140 + 40 * np.sin(2 * np.pi * 1.3 * t)) / sr
    y = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.5 + 0.5 * np.sin(6 * np.pi * t) ** 2)
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def _m4a(wave: np.ndarray) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="ipod") as out:
        stream = out.add_stream("aac", rate=SR, layout="mono")
        frame = av.AudioFrame.from_ndarray(wave[None], format="flt", layout="mono")
        frame.sample_rate = SR
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=SR)
        for f in [*resampler.resample(frame), *resampler.resample(None)]:
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))
    return buf.getvalue()


def seed_files() -> dict[str, bytes]:
    """One second of a speech-like tone in WAV (16-bit and float), FLAC, MP3, OGG and M4A."""
    wave = _speechlike(1.0)
    out = {}
    for name, fmt, subtype in (
        ("wav", "WAV", "PCM_16"),
        ("float.wav", "WAV", "FLOAT"),
        ("flac", "FLAC", "PCM_16"),
        ("mp3", "MP3", "MPEG_LAYER_III"),
        ("ogg", "OGG", "VORBIS"),
    ):
        buf = io.BytesIO()
        sf.write(buf, wave, SR, format=fmt, subtype=subtype)
        out[name] = buf.getvalue()
    out["m4a"] = _m4a(wave)
    return out


SEEDS = seed_files()


@st.composite
def mutated(draw) -> tuple[str, bytes]:
    """A seed file with bytes flipped (mostly in its header), cut short, or both."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    blob = bytearray(SEEDS[name])
    for _ in range(draw(st.integers(0, 8))):
        header = draw(st.booleans())
        pos = draw(st.integers(0, min(len(blob), 96) - 1 if header else len(blob) - 1))
        blob[pos] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        blob = blob[: draw(st.integers(0, len(blob)))]
    return name, bytes(blob)


random_bytes = st.binary(min_size=0, max_size=4096).map(lambda b: ("random", b))
any_file = st.one_of(mutated(), random_bytes)


def _extreme(kind: str, n: int) -> np.ndarray:
    t = np.arange(n) / SR
    return {
        "nan": np.full(n, np.nan),
        "inf": np.where(np.arange(n) % 7 == 0, np.inf, 0.1),
        "dc": np.full(n, 0.7),
        "square": np.sign(np.sin(2 * np.pi * 220 * t)),
        "zeros": np.zeros(n),
        "huge": _speechlike(max(n, 1) / SR)[:n] * 1e6,
        "speech": _speechlike(max(n, 1) / SR)[:n],
    }[kind].astype(np.float32)


@st.composite
def waves(draw) -> tuple[str, object, int]:
    """(description, array, sample rate): extreme values, dtypes and shapes."""
    kind = draw(st.sampled_from(["nan", "inf", "dc", "square", "zeros", "huge", "speech"]))
    n = draw(st.sampled_from([0, 1, 2, 160, 1600, 16000, 40000]))
    x: object = _extreme(kind, n)
    dtype = draw(
        st.sampled_from(
            ["float32", "float64", "int16", "int32", "uint8", "bool", "complex64", "object", "str"]
        )
    )
    if dtype == "str":
        x = np.array(["a"] * n)
    elif dtype in ("int16", "int32", "uint8"):
        x = np.nan_to_num(np.clip(x, -1, 1)).astype(dtype)
    else:
        x = x.astype(dtype)
    shape = draw(st.sampled_from(["1d", "2d", "2d-transposed", "3d", "0d", "list"]))
    if shape == "2d":
        x = np.stack([x, x], axis=1)
    elif shape == "2d-transposed":
        x = np.stack([x] * 8)  # (channels, samples): a common mistake
    elif shape == "3d":
        x = x.reshape(1, 1, -1)
    elif shape == "0d":
        x = np.array(1.0)
    elif shape == "list":
        x = list(np.asarray(x).ravel()[:100])
    sr = draw(st.sampled_from([SR, 8000, 44100, 192000, 0, -1]))
    return f"{kind}/{n}/{dtype}/{shape}/{sr}", x, sr


def outcome(result) -> str:
    """'result', 'error:<type>' for a Result, or raise AssertionError for anything else."""
    from emovox.infer.analyzer import Result

    assert isinstance(result, Result), f"not a Result: {result!r}"
    if result.error is not None:
        assert result.path and result.error.strip(), result  # which input, and what is wrong
        return f"error:{result.error_type or 'input'}"
    assert result.emotion is not None or result.reason, result
    return "result"


def write(tmp: Path, name: str, blob: bytes, k: int) -> Path:
    path = tmp / f"case{k}.{name.split('.')[-1]}"
    path.write_bytes(blob)
    return path
