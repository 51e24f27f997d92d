"""Where speech is: Silero VAD's per-frame speech probabilities, then speech regions.

The model is the ONNX export that ships inside the ``silero-vad`` wheel, run by onnxruntime in
blocks of frames (one call per ~16 s), carrying its recurrent state from block to block so a
long recording is read in pieces. Written against the model file rather than through the
package's helpers because importing ``silero_vad`` imports torch (over a second), which would
undo the NumPy engine's fast start; ``tests/audio/test_vad.py`` checks that the regions equal the
package's own ``get_speech_timestamps_from_probs``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emovox.audio import voicing
from emovox.audio.decode import SAMPLE_RATE as SR

FRAME = voicing.FRAME  # samples per probability: 32 ms
CONTEXT = 64  # samples of the previous frame each frame sees
_MODEL = "silero_vad_16k_sequence.onnx"


class VadUnavailableError(RuntimeError):
    """The silero-vad package (or onnxruntime) is missing; the message says what to install."""


def model_path() -> Path:
    spec = importlib.util.find_spec("silero_vad")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise VadUnavailableError(
            "speech detection needs the silero-vad package: pip install silero-vad onnxruntime"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / _MODEL
    if not path.exists():
        raise VadUnavailableError(f"{path} is missing: pip install 'silero-vad>=5.1'")
    return path


@dataclass(frozen=True)
class VadConfig:
    """Silero's own defaults for turning frame probabilities into regions, and the voicing
    rule that also takes voiced frames with a moving pitch for speech (:mod:`.voicing`)."""

    # None: Silero alone; else voiced speech it misses (shouts, screams) is speech too
    voiced: voicing.VoicingConfig | None = field(default_factory=voicing.VoicingConfig)
    threshold: float = 0.5  # a frame above this starts or continues speech
    neg_threshold: float = 0.35  # below this (threshold - 0.15) speech may end
    min_speech: float = 0.25  # seconds; shorter regions are dropped
    min_silence: float = 0.1  # seconds below neg_threshold before a region ends
    pad: float = 0.03  # seconds added on each side of a region


class SpeechDetector:
    """Per-frame speech probabilities of 16 kHz audio, fed in blocks of any length."""

    def __init__(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise VadUnavailableError(
                "speech detection needs onnxruntime: pip install onnxruntime"
            ) from None
        options = ort.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def probabilities(self, blocks: Iterable[np.ndarray], max_frames: int = 512) -> np.ndarray:
        """Silero's speech probability of every 32 ms frame of the concatenated ``blocks``
        (the last frame zero-padded), computed block by block."""
        return self.detect(blocks, max_frames, cues=False)[0]

    def speech(self, blocks: Iterable[np.ndarray], cfg: VadConfig | None = None) -> np.ndarray:
        """The speech probability of every frame as :func:`regions` reads it: Silero's, and
        1 on frames of voiced speech with a moving pitch (``cfg.voiced``; None: Silero's)."""
        cfg = cfg or VadConfig()
        probs, cues = self.detect(blocks, cues=cfg.voiced is not None)
        if cfg.voiced is not None and len(probs):
            probs[voicing.voiced_speech(cues, cfg.voiced)] = 1.0
        return probs

    def detect(
        self, blocks: Iterable[np.ndarray], max_frames: int = 512, cues: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """(Silero's probabilities (frames,), :func:`voicing.frame_cues` (frames, 3) or an
        empty array) of the concatenated ``blocks``, in one pass, block by block."""
        frames = Frames(self, max_frames, cues)
        parts = [frames.push(block) for block in blocks]  # lazily: a stream stays a stream
        parts.append(frames.finish())
        probs, found = np.concatenate([p for p, _ in parts]), [c for _, c in parts]
        return probs, np.concatenate(found) if cues else np.zeros((0, 3), np.float32)


class Frames:
    """:meth:`SpeechDetector.detect` one block at a time, for audio that is still arriving:
    each :meth:`push` gives the frames it completed, :meth:`finish` the zero-padded last."""

    def __init__(self, detector: SpeechDetector, max_frames: int = 512, cues: bool = True):
        self.detector, self.max_frames, self.cues = detector, max_frames, cues
        self.hidden = self.cell = np.zeros((1, 1, 128), dtype=np.float32)
        self.context = np.zeros(CONTEXT, dtype=np.float32)
        self.carry = np.zeros(0, dtype=np.float32)
        self.previous = np.zeros(FRAME, dtype=np.float32)

    def push(self, block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, cues) of the frames ``block`` completes."""
        return self._frames(np.concatenate([self.carry, block.astype(np.float32)]))

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, cues) of what is left, zero-padded to a whole frame."""
        samples = self.carry
        return self._frames(
            np.pad(samples, (0, -len(samples) % FRAME)) if len(samples) else samples
        )

    def _frames(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        usable = len(samples) - len(samples) % FRAME
        self.carry = samples[usable:]
        out, cue_rows = [np.zeros(0, np.float32)], [np.zeros((0, 3), np.float32)]
        for start in range(0, usable, FRAME * self.max_frames):
            frames = samples[start : min(usable, start + FRAME * self.max_frames)].reshape(
                -1, FRAME
            )
            contexts = np.concatenate([self.context[None], frames[:-1, -CONTEXT:]])
            feed = {"input": np.concatenate([contexts, frames], axis=1)}
            probs, self.hidden, self.cell = self.detector.session.run(
                ["speech_probs", "hn", "cn"], {**feed, "h": self.hidden, "c": self.cell}
            )
            self.context = frames[-1, -CONTEXT:].copy()
            out.append(np.asarray(probs, dtype=np.float32).reshape(-1))
            if self.cues:
                cue_rows.append(voicing.frame_cues(frames, self.previous))
                self.previous = frames[-1].copy()
        return np.concatenate(out), np.concatenate(cue_rows)


def regions(
    probs: np.ndarray, n_samples: int, cfg: VadConfig | None = None
) -> list[tuple[float, float]]:
    """Speech regions (start, end) in seconds from frame probabilities, by Silero's rule:
    speech starts on a frame above ``threshold`` and ends after ``min_silence`` below
    ``neg_threshold``; regions shorter than ``min_speech`` are dropped, the rest padded by
    ``pad`` (halving the gap where two would overlap)."""
    cfg = cfg or VadConfig()
    min_silence = SR * cfg.min_silence
    spans: list[list[int]] = []
    start, silence_from = None, None
    for i, p in enumerate(probs):
        pos = i * FRAME
        if p >= cfg.threshold:
            silence_from = None
            if start is None:
                start = pos
        elif start is not None and p < cfg.neg_threshold:
            silence_from = pos if silence_from is None else silence_from
            if pos - silence_from >= min_silence:
                spans.append([start, silence_from])
                start, silence_from = None, None
    if start is not None:
        spans.append([start, n_samples])
    spans = [s for s in spans if s[1] - s[0] > SR * cfg.min_speech]
    return _padded(spans, n_samples, int(SR * cfg.pad))


def _padded(spans: list[list[int]], n_samples: int, pad: int) -> list[tuple[float, float]]:
    for k, span in enumerate(spans):
        if k == 0:
            span[0] = max(0, span[0] - pad)
        if k + 1 < len(spans):
            gap = spans[k + 1][0] - span[1]
            if gap < 2 * pad:
                span[1] += gap // 2
                spans[k + 1][0] = max(0, spans[k + 1][0] - gap // 2)
            else:
                span[1] = min(n_samples, span[1] + pad)
                spans[k + 1][0] = max(0, spans[k + 1][0] - pad)
        else:
            span[1] = min(n_samples, span[1] + pad)
    return [(a / SR, b / SR) for a, b in spans]
