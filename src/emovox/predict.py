"""Emotion of real recordings: decode -> speech detection -> a clip result, or for a recording
longer than one window an emotion timeline -> an honest answer ("no speech", "unsure").

A recording is read twice, block by block (:func:`emovox.audio.stream`): once for speech
detection and the waveform envelope, once to cut the prediction windows as their audio
arrives, so memory does not grow with its length. :class:`Analyzer` wraps either predictor
(NumPy or torch); ``emovox.load_model()`` returns one.
"""

from __future__ import annotations

import glob
import itertools
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import soxr

from emovox import audio, timeline, vad
from emovox.timeline import Segment, TimelineConfig

SR = 16000
ENVELOPE_RATE = 100  # envelope points per second (peaks of 10 ms)


@dataclass
class Result:
    """What emovox says about one input. ``emotion`` is None when there is no speech or the
    model is unsure (``reason`` says which); ``error`` is set instead when it cannot be read."""

    path: str
    emotion: str | None = None
    confidence: float | None = None
    probabilities: dict[str, float] | None = None
    speech: bool | None = None
    reason: str | None = None
    duration: float | None = None
    segments: list[Segment] | None = None
    summary: dict | None = None
    error: str | None = None
    error_type: str | None = field(default=None, repr=False)  # the AudioError class, for servers

    def to_dict(self) -> dict:
        """JSON-ready: ``path`` and ``error``, or the prediction's keys (segments and summary
        only for recordings longer than one window)."""
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        hidden = ("error", "error_type")
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden}
        out = {k: v for k, v in out.items() if v is not None or k in ("emotion", "confidence")}
        if self.segments is not None:
            out["segments"] = [s.to_dict() for s in self.segments]
        return out


@dataclass(frozen=True)
class AnalysisConfig:
    """Settings of the analysis around the model (defaults measured: docs/analysis.md)."""

    threshold: float = 0.3  # below this calibrated top probability the answer is "unsure"
    unfamiliar: float = 4.5  # above this unfamiliarity (about 1 on training data) too
    adapt: bool = False  # a recording's windows adapted to its own speaker (statistics models)
    adapt_min_windows: int = 10  # fewer windows than this: too little of the voice to adapt
    timeline: TimelineConfig = field(default_factory=TimelineConfig)
    speech: vad.VadConfig = field(default_factory=vad.VadConfig)
    limits: audio.AudioLimits = field(default_factory=audio.AudioLimits)
    block_seconds: float = 60.0  # decoded at a time
    batch: int = 8  # windows per model call


Progress = Callable[[float], None]  # told the seconds of audio finished since the last call


class Analyzer:
    """A predictor with speech detection, timelines and abstention around it."""

    def __init__(self, predictor, cfg: AnalysisConfig | None = None) -> None:
        self.predictor = predictor
        self.labels: tuple[str, ...] = tuple(predictor.labels)
        self.cfg = cfg or AnalysisConfig()
        self._vad: vad.SpeechDetector | None = None

    def predict_waves(self, waves: list[np.ndarray]) -> np.ndarray:
        """Calibrated class probabilities (n, classes) of 16 kHz mono clips, as they are."""
        return self.predictor.predict_waves(waves)

    def predict(self, x, sr: int | None = None) -> Result | list[Result]:
        """A path, file bytes or a wave (then ``sr`` is required: it is resampled to 16 kHz),
        or a list of them; a :class:`Result` each. Errors become results, never exceptions."""
        if isinstance(x, list | tuple):
            return [self.predict(item, sr) for item in x]
        if isinstance(x, np.ndarray):
            return self.analyze_wave(x, sr)
        return self.analyze(x)

    def analyze_wave(self, wave: np.ndarray, sr: int | None, name: str = "<wave>") -> Result:
        """A wave at ``sr`` Hz (required: a wave at another rate than assumed gives wrong
        answers); mono, or (samples, channels) averaged."""
        if sr is None:
            raise ValueError("a wave needs its sample rate: predict(wave, sr=44100)")
        wave = np.asarray(wave)
        if np.issubdtype(wave.dtype, np.integer):  # PCM samples, scaled as a decoder would
            wave = wave / float(np.iinfo(wave.dtype).max + 1)
        wave = wave.astype(np.float32)
        if wave.ndim == 2:
            wave = wave.mean(axis=1)
        if wave.ndim != 1:
            return Result(
                name, error=f"a wave is (samples,) or (samples, channels), not {wave.shape}"
            )
        if not np.isfinite(wave).all():
            return Result(
                name, error=f"{int((~np.isfinite(wave)).sum())} samples are NaN or infinite"
            )
        if sr != SR and len(wave):
            wave = soxr.resample(wave, sr, SR, quality="HQ").astype(np.float32)
        step = int(self.cfg.block_seconds * SR)
        return self._guarded(name, lambda: (wave[i : i + step] for i in range(0, len(wave), step)))

    def analyze(
        self,
        source: str | Path | bytes,
        plot: str | Path | None = None,
        progress: Progress | None = None,
    ) -> Result:
        """A file (path or bytes), streamed; ``plot``: write the timeline PNG there."""
        name = "<bytes>" if isinstance(source, bytes | bytearray) else str(source)

        def blocks() -> Iterator[np.ndarray]:
            return audio.stream(source, SR, self.cfg.block_seconds, self.cfg.limits)

        return self._guarded(name, blocks, plot, progress)

    def _guarded(self, name, blocks, plot=None, progress=None) -> Result:
        try:
            return self._analyze(name, blocks, plot, progress)
        except audio.AudioError as exc:
            return Result(name, error=exc.cause, error_type=type(exc).__name__)
        except OSError as exc:  # unreadable: permissions, a device that went away
            return Result(name, error=exc.strerror or str(exc))

    # --- the steps ------------------------------------------------------------------------
    def _analyze(
        self, name: str, blocks: Callable[[], Iterable[np.ndarray]], plot, progress
    ) -> Result:
        scan = self._scan(name, blocks)
        regions = vad.regions(scan.vad_probs, scan.n, self.cfg.speech)
        duration = scan.n / SR
        if not regions:
            if progress:
                progress(duration)
            duration = round(duration, 3)
            return Result(name, speech=False, reason="no speech detected", duration=duration)
        if duration <= self.cfg.timeline.window:  # one clip, predicted whole as it always was
            probs, odd = self._predict([np.concatenate(list(blocks()))])
            if progress:
                progress(duration)
            result = Result(name, speech=True, duration=round(duration, 3))
            return self._decide(result, probs[0], float(odd[0]))
        return self._timeline(name, blocks, scan, regions, plot, progress)

    def _scan(self, name: str, blocks) -> _Scan:
        """Pass 1: speech probabilities, envelope, length, level checks."""
        scan = _Scan()
        scan.vad_probs = self.detector.probabilities(scan.tap(blocks()))
        limits = self.cfg.limits
        if scan.n / SR < limits.min_seconds:
            raise audio.AudioTooShortError(
                name,
                f"{scan.n / SR:.3f} s is shorter than the minimum of {limits.min_seconds:.3f} s",
            )
        if scan.peak < limits.silence_peak:
            raise audio.AudioSilentError(name, f"silent (peak amplitude {scan.peak:.2e})")
        if scan.clipped / scan.n > limits.clip_fraction:
            warnings.warn(
                f"{name}: {scan.clipped / scan.n:.2%} of samples at full scale, probably clipped",
                audio.ClippingWarning,
                stacklevel=2,
            )
        return scan

    def _timeline(self, name, blocks, scan: _Scan, regions, plot, progress) -> Result:
        """Pass 2: windows scored as their audio arrives, then the curve, segments, summary."""
        cfg = self.cfg.timeline
        spans = timeline.windows(regions, cfg)
        probs, odd = self._score(blocks(), spans, scan.n, progress)
        # unfamiliarity rides along the curve as one more column
        scored = np.concatenate([probs, odd[:, None]], axis=1)
        times, grid, covered = timeline.curve(spans, scored, scan.n / SR, cfg.step)
        odd_curve, grid = grid[:, -1], timeline.smooth(grid[:, :-1], covered, cfg.smooth, cfg.step)
        unsure = odd_curve > self.cfg.unfamiliar
        segs = timeline.segments(times, grid, covered, self.labels, self.cfg.threshold, cfg, unsure)
        summ = timeline.summary(segs, self.labels, scan.n / SR)
        if plot:
            curves = (times, grid, covered, segs, self.labels)
            timeline.plot(plot, scan.envelope(), ENVELOPE_RATE, regions, *curves, Path(name).name)
        result = Result(name, speech=True, duration=summ["duration"], segments=segs, summary=summ)
        self._decide(result, grid[covered].mean(0), float(np.nanmean(odd_curve[covered])))
        result.emotion = summ["dominant_emotion"]  # the emotion held longest
        result.reason = None if result.emotion else "unsure in every segment"
        return result

    def _predict(self, waves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, unfamiliarity; NaN where the predictor has no such score)."""
        if hasattr(self.predictor, "predict_scored"):
            return self.predictor.predict_scored(waves)
        return self.predictor.predict_waves(waves), np.full(len(waves), np.nan, np.float32)

    def _score(
        self, blocks: Iterable[np.ndarray], spans, n: int, progress
    ) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (windows, classes), unfamiliarity (windows,)), in batches; adapted
        to the recording when asked and it has enough windows."""
        adapt = self._adapts(len(spans))
        out = np.zeros((len(spans), len(self.labels)), dtype=np.float32)
        odd = np.zeros(len(spans), dtype=np.float32)
        inputs: list[list[np.ndarray]] = []
        batch: list[tuple[int, np.ndarray]] = []
        done = 0.0

        def flush() -> None:
            idx, waves = zip(*batch, strict=True)
            if adapt:  # statistics now, classified once the whole recording is known
                inputs.append(self.predictor.member_inputs(list(waves)))
            else:
                out[list(idx)], odd[list(idx)] = self._predict(list(waves))
            batch.clear()

        cfg = self.cfg.timeline
        for k, wave in _cut(blocks, spans, n, int(cfg.min_window * SR), int(cfg.context * SR)):
            batch.append((k, wave))
            if len(batch) == self.cfg.batch:
                flush()
            if progress:
                progress(spans[k][1] - done)
                done = spans[k][1]
        if batch:
            flush()
        if progress:
            progress(n / SR - done)
        if adapt:
            per_member = [np.concatenate(x) for x in zip(*inputs, strict=True)]
            out, odd = self.predictor.classify(self._adapted(per_member))
        return out, odd

    def _adapts(self, windows: int) -> bool:
        """Whether this recording's windows are adapted to it: asked for (or required by
        speaker-normalised members), possible for the model, and enough of the voice."""
        p = self.predictor
        if not getattr(p, "reads_statistics", False):
            return False
        wanted = self.cfg.adapt or any(p.speaker_normalised())
        return wanted and windows >= self.cfg.adapt_min_windows

    def _adapted(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Each member's window statistics relative to the recording itself: standardised
        (members trained on per-speaker standardised statistics), or shifted so the
        recording's mean becomes the training mean (the others)."""
        p = self.predictor
        out = []
        for x, mean, standardise in zip(
            inputs, p.training_means(), p.speaker_normalised(), strict=True
        ):
            x64 = x.astype(np.float64)
            mu = x64.mean(0)
            if standardise:
                sd = np.maximum(x64.std(0), 1e-5) if len(x) > 1 else np.ones_like(mu)
                out.append(((x64 - mu) / sd).astype(np.float32))
            else:
                out.append((x64 - mu + mean).astype(np.float32))
        return out

    def _decide(self, result: Result, probs: np.ndarray, odd: float = np.nan) -> Result:
        """Top emotion, or None with a reason when its probability is under the threshold or
        the input is unlike the speech the model learned from."""
        k = int(probs.argmax())
        result.confidence = round(float(probs[k]), 4)
        result.probabilities = {
            lab: round(float(p), 4) for lab, p in zip(self.labels, probs, strict=True)
        }
        cfg = self.cfg
        result.emotion, result.reason = self.labels[k], None
        if odd > cfg.unfamiliar:
            result.emotion = None
            result.reason = (
                f"unsure (unlike the speech it learned from: {odd:.1f} > {cfg.unfamiliar:g})"
            )
        elif probs[k] < cfg.threshold:
            result.emotion = None
            result.reason = f"unsure (top probability {probs[k]:.2f} < {cfg.threshold:.2f})"
        return result

    @property
    def detector(self) -> vad.SpeechDetector:
        if self._vad is None:
            self._vad = vad.SpeechDetector()
        return self._vad


class _Scan:
    """What pass 1 learns of a recording while its blocks go through the speech detector."""

    def __init__(self) -> None:
        self.n, self.peak, self.clipped = 0, 0.0, 0
        self.vad_probs = np.zeros(0, dtype=np.float32)
        self._env: list[np.ndarray] = []
        self._carry = np.zeros(0, dtype=np.float32)

    def tap(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        hop = SR // ENVELOPE_RATE
        for block in blocks:
            self.n += len(block)
            a = np.abs(block)
            if len(a):
                self.peak = max(self.peak, float(a.max()))
                self.clipped += int((a >= 0.999).sum())
            joined = np.concatenate([self._carry, a])
            usable = len(joined) - len(joined) % hop
            self._env.append(joined[:usable].reshape(-1, hop).max(1))
            self._carry = joined[usable:]
            yield block

    def envelope(self) -> np.ndarray:
        tail = [self._carry.max(keepdims=True)] if len(self._carry) else []
        return np.concatenate(self._env + tail) if self._env or tail else np.zeros(0)


def _cut(
    blocks: Iterable[np.ndarray], spans, n: int, min_len: int, context: int = 0
) -> Iterator[tuple[int, np.ndarray]]:
    """(index, samples) of each window, ``context`` samples wider on each side, as soon as the
    streamed audio covers it, keeping only what later windows still need; windows shorter than
    ``min_len`` grow around their centre."""
    bounds = [_bounds(s, e, n, min_len, context) for s, e in spans]
    buf, buf_start, i = np.zeros(0, dtype=np.float32), 0, 0
    for block in itertools.chain(blocks, [None]):
        if block is not None:
            buf = np.concatenate([buf, block])
        end = buf_start + len(buf)
        while i < len(bounds) and (bounds[i][1] <= end or block is None):
            a, b = bounds[i]
            yield i, buf[a - buf_start : b - buf_start]
            i += 1
        keep = min((a for a, _ in bounds[i:]), default=end)
        if keep > buf_start:
            buf, buf_start = buf[keep - buf_start :], keep


def _bounds(start: float, end: float, n: int, min_len: int, context: int) -> tuple[int, int]:
    a, b = max(0, int(start * SR) - context), min(n, int(np.ceil(end * SR)) + context)
    if b - a < min_len:
        centre = (a + b) // 2
        a = max(0, min(centre - min_len // 2, n - min_len))
        b = min(n, a + min_len)
    return a, b


def expand_inputs(items: Sequence[str]) -> list[str]:
    """Files as given; folders (recursively, audio extensions only) and quoted globs expanded
    in sorted order; ``@list.txt`` read one path per line; ``-`` kept (standard input)."""
    out: list[str] = []
    for item in items:
        if item == "-":
            out.append(item)
        elif item.startswith("@") and not Path(item).exists():
            lines = Path(item[1:]).read_text().splitlines()
            out.extend(
                expand_inputs([ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")])
            )
        elif Path(item).is_dir():
            out.extend(
                sorted(
                    str(p)
                    for p in Path(item).rglob("*")
                    if p.suffix.lower() in audio.AUDIO_SUFFIXES and p.is_file()
                )
            )
        elif glob.has_magic(item) and not Path(item).exists():
            out.extend(sorted(glob.glob(item, recursive=True)) or [item])
        else:
            out.append(item)
    return out


def read_stdin() -> bytes:
    """Standard input's bytes (``-`` as an input)."""
    return sys.stdin.buffer.read()
