"""What every waveform goes through before a model reads it: silence trimming and loudness.

The Whisper encoder's log-mel input is level-dependent: the same clip 20 dB quieter lost 20.8
points (issue 19), and RAVDESS sits about 14 LU below ASED (median -35.6 against -21.4 LUFS),
so a level can stand in for a corpus. :class:`Frontend` scales each clip to one gated level
identically in training, evaluation and both engines; a model's checkpoint says which front
end it was trained with.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from emovox import audio
from emovox.audio.decode import SAMPLE_RATE

#: The most a clip is amplified: RAVDESS's quietest clips sit near -55 dBFS and users' may be
#: 20 dB lower still; digital near-silence (below the loader's -80 dBFS peak) is not blown up.
MAX_GAIN_DB = 60.0


def loudness(wave: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    """The clip's speech level in dBFS, -inf for silence: ITU-R BS.1770's gated mean power
    (400 ms blocks at 75% overlap, a relative gate 10 dB under the mean). No absolute gate
    beyond digital silence: BS.1770's at -70 dB would drop real recordings (RAVDESS has clips
    near -55 dBFS, 20 dB quieter is -75) and make the level depend on the gain.
    Without BS.1770's K-weighting filter: written here in NumPy so that scipy.signal (0.9 s to
    import, pyloudnorm's dependency) stays out of a prediction's start; a gain moves this
    level by exactly the gain either way, which is what invariance needs."""
    n = len(wave)
    if n == 0:
        return float("-inf")
    block = min(int(0.4 * sr), n)
    csum = np.concatenate([[0.0], np.cumsum(np.square(wave, dtype=np.float64))])
    starts = np.arange(0, n - block + 1, max(block // 4, 1))
    power = np.maximum((csum[starts + block] - csum[starts]) / block, 0.0)  # (blocks,)
    power = power[power > 1e-20]  # digital silence only
    if len(power) == 0:
        return float("-inf")
    power = power[power > power.mean() / 10]  # the relative gate, -10 dB
    return float(10 * np.log10(power.mean()))


def normalise_level(wave: np.ndarray, target_db: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """``wave`` scaled to the level ``target_db`` (dBFS, :func:`loudness`), by at most
    :data:`MAX_GAIN_DB`; silence and non-finite input come back
    unchanged. Samples may exceed full scale: models read floats."""
    level = loudness(wave, sr)
    if not np.isfinite(level):
        return wave
    gain_db = min(target_db - level, MAX_GAIN_DB)
    return (wave * np.float32(10 ** (gain_db / 20))).astype(np.float32)


DETECTION_LEVEL_DB = -25.0  # the speech level trim_to_speech's detector hears a clip at


@functools.cache
def _detector():
    """One speech detector for every trim, made on first use."""
    from emovox.audio import vad

    return vad.SpeechDetector()


def trim_to_speech(wave: np.ndarray) -> np.ndarray:
    """``wave`` from the start of its first speech region to the end of its last (Silero's
    regions, :mod:`emovox.audio.vad`); whole when it has none. Unlike an energy threshold
    under the loudest frame, a detector cuts a noisy room's silence as it cuts a studio's,
    so corpora recorded apart are trimmed alike."""
    from emovox.audio import vad

    # the detector hears every clip at one level: its probabilities move with the gain, and
    # where a clip is cut must not (the level front end makes the answer gain-free)
    heard = normalise_level(wave, DETECTION_LEVEL_DB)
    found = vad.regions(_detector().probabilities([heard]), len(wave))
    if not found:
        return wave
    return wave[int(found[0][0] * SAMPLE_RATE) : int(np.ceil(found[-1][1] * SAMPLE_RATE))]


@dataclass(frozen=True)
class Frontend:
    """Silence trimming (``trim_db`` > 0: by energy; ``trim_speech``: to the detected
    speech) then loudness (``level_db`` < 0: the target level of :func:`loudness`, dBFS; 0:
    as recorded). All off: models trained before any existed read what they were trained
    on."""

    trim_db: float = 0.0
    level_db: float = 0.0
    trim_speech: bool = False

    @classmethod
    def from_meta(cls, meta: dict) -> Frontend:
        return cls(
            float(meta.get("trim_db", 0.0)),
            float(meta.get("level_db", 0.0)),
            bool(meta.get("trim_speech", False)),
        )

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        wave = audio.trim_silence(wave, self.trim_db)
        return self.level(trim_to_speech(wave) if self.trim_speech else wave)

    def level(self, wave: np.ndarray) -> np.ndarray:
        """The loudness step alone (training applies it after augmenting a trimmed clip)."""
        return normalise_level(wave, self.level_db) if self.level_db < 0 else wave

    @property
    def tag(self) -> str:
        """What cache keys of clips through this front end carry beyond the file's hash."""
        trim = f"+trim{self.trim_db:g}" if self.trim_db > 0 else ""
        trim += "+speechcut" if self.trim_speech else ""
        return trim + (f"+lvl{self.level_db:g}" if self.level_db < 0 else "")
