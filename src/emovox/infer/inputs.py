"""What the analyzer reads: a path, a file's bytes, an open binary file, or a wave with its
sample rate, each as its name and a callable that gives its 16 kHz blocks (read twice: once
for speech detection, once for the windows)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import soxr

from emovox import audio
from emovox.audio.decode import SAMPLE_RATE as SR

Blocks = Callable[[], Iterator[np.ndarray]]


def name_of(x) -> str:
    """What an input is called in its result."""
    if isinstance(x, np.ndarray):
        return "<wave>"
    if hasattr(x, "read"):
        return str(getattr(x, "name", "<file>"))
    return "<bytes>" if isinstance(x, bytes | bytearray) else str(x)


def opened(
    x, sr: int | None, block_seconds: float, limits: audio.AudioLimits
) -> tuple[str, Blocks | str, object | None]:
    """(name, its blocks or what is wrong with it, the source to check for truncation or
    None) of any input ``Analyzer.predict`` takes; a wave comes with its ``sr`` (the analyzer
    refuses one without)."""
    name = name_of(x)
    if isinstance(x, np.ndarray):
        mono = audio.mono_wave(x, sr)
        if isinstance(mono, str):
            return name, mono, None
        if sr != SR and len(mono):
            mono = soxr.resample(mono, sr, SR, quality="HQ").astype(np.float32)
        step = int(block_seconds * SR)
        return name, lambda: (mono[i : i + step] for i in range(0, len(mono), step)), None
    data = x.read() if hasattr(x, "read") else x  # an open file: its bytes, under its name
    return name, lambda: audio.stream(data, SR, block_seconds, limits), data
