"""What the analyzer reads: a path, a file's bytes, an open binary file, or a wave with its
sample rate, each as its name and a callable that gives its 16 kHz blocks (read twice: once
for speech detection, once for the windows)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

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


class Opened(NamedTuple):
    """An input ready to read: its name, its 16 kHz blocks (None when ``problem`` says why it
    cannot be read) and the source to check for truncation (None: a wave)."""

    name: str
    blocks: Blocks | None
    source: object | None = None
    problem: str | None = None


def opened(x, sr: int | None, block_seconds: float, limits: audio.AudioLimits) -> Opened:
    """Any input ``Analyzer.predict`` takes, opened; a wave comes with its ``sr`` (the
    analyzer refuses one without)."""
    name = name_of(x)
    if isinstance(x, np.ndarray):
        mono = audio.mono_wave(x, sr)
        if isinstance(mono, str):
            return Opened(name, None, problem=mono)
        if sr != SR and len(mono):
            mono = soxr.resample(mono, sr, SR, quality="HQ").astype(np.float32)
        step = int(block_seconds * SR)
        return Opened(name, lambda: (mono[i : i + step] for i in range(0, len(mono), step)))
    data = x.read() if hasattr(x, "read") else x  # an open file: its bytes, under its name
    return Opened(name, lambda: audio.stream(data, SR, block_seconds, limits), data)
