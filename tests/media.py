"""Real media files for tests: audio encoded with FFmpeg's encoders through PyAV, and a
conversation of two RAVDESS actors."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def encode(
    path: Path,
    wave: np.ndarray,
    sr: int,
    codec: str,
    rate: int | None = None,
    video: bool = False,
    audio: bool = True,
    bitrate: int = 64000,
    tags: dict[str, str] | None = None,
    tag_encoding: str = "utf-8",
) -> Path:
    """``wave`` (mono float32 at ``sr``) written to ``path`` with ``codec`` (aac, libopus,
    libmp3lame, ...); ``video`` adds a small black video track, ``audio=False`` leaves the
    audio out (a video-only file); ``tags`` are written in ``tag_encoding`` (old taggers:
    Latin-1)."""
    rate = rate or sr
    with av.open(str(path), "w", metadata_encoding=tag_encoding) as out:
        out.metadata.update(tags or {})
        if video:
            v = out.add_stream("mpeg4", rate=10)
            v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        if audio:
            a = out.add_stream(codec, rate=rate)
            a.layout = "mono"
            a.bit_rate = bitrate
        if video:
            for k in range(int(10 * len(wave) / sr)):
                frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
                frame.pts = k
                frame.time_base = Fraction(1, 10)
                for packet in v.encode(frame):
                    out.mux(packet)
            for packet in v.encode():
                out.mux(packet)
        if audio:
            frame = av.AudioFrame.from_ndarray(
                wave[None].astype(np.float32), format="flt", layout="mono"
            )
            frame.sample_rate = sr
            resampler = av.AudioResampler(format=a.format.name, layout="mono", rate=rate)
            for part in [*resampler.resample(frame), *resampler.resample(None)]:
                for packet in a.encode(part):
                    out.mux(packet)
            for packet in a.encode():
                out.mux(packet)
    return path


def conversation(manifest, folder: Path) -> Path:
    """About 70 s of a man (actor 01) and a woman (actor 02) taking turns of 1-4 clips, as
    ``folder/conversation.flac``."""
    import soundfile as sf

    from emovox.data import demo

    by = {s: [r for r in manifest.rows if r.speaker[-2:] == s][:48:4] for s in ("01", "02")}
    rows = []
    for k, n in enumerate((3, 2, 4, 1, 3, 4, 2, 2, 3)):
        who = by[("01", "02")[k % 2]]
        rows += [who.pop(0) for _ in range(min(n, len(who)))]
    path = folder / "conversation.flac"
    sf.write(path, demo.build(rows, seed=2, shuffle=False).wave, 16000)
    return path
