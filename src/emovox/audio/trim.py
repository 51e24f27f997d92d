"""Leading and trailing silence cut by energy (librosa.effects.trim's rule), for training clips
and the recordings :mod:`emovox.data.demo` joins; apart from :mod:`.decode`, which only reads."""

from __future__ import annotations

import numpy as np


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
