"""Emotion of real recordings: decode -> speech detection -> a clip result, or for a recording
longer than one window an emotion timeline -> an honest answer ("no speech", "unsure").

A recording is read twice, block by block (:func:`emovox.audio.stream`): once for speech
detection and the waveform envelope, once to cut the prediction windows as their audio
arrives, so memory does not grow with its length. :class:`Analyzer` wraps either predictor
(NumPy or torch); ``emovox.load_model()`` returns one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from emovox import audio
from emovox.audio import vad
from emovox.audio.decode import SAMPLE_RATE as SR
from emovox.data.labels import axes
from emovox.infer import adapt, inputs, scoring, speakers, timeline
from emovox.infer.engine import Engine
from emovox.infer.result import REASONS, Result, headline, internal_error, no_speech
from emovox.infer.timeline import Segment, TimelineConfig

__all__ = ["REASONS", "AnalysisConfig", "Analyzer", "Result", "Segment", "headline"]


ADAPT_BY = ("recording", "folder", "none")
DEFAULT_THRESHOLD = 0.3  # the "unsure" gate of models that do not carry their own


@dataclass(frozen=True)
class AnalysisConfig:
    """Settings of the analysis around the model (defaults measured: docs/analysis.md)."""

    # below this calibrated top probability the answer is "unsure"; None: the model's own
    # (fitted with its temperature: MODEL_CARD.md), else DEFAULT_THRESHOLD
    threshold: float | None = None
    unfamiliar: float = 4.5  # above this unfamiliarity (about 1 on training data) too
    adapt: bool = True  # a recording's windows adapted to its own speaker (statistics models)
    adapt_min_windows: int = 10  # fewer windows (or clips) than this: too little to adapt
    # what a clip is adapted to: "recording" (nothing: only a long recording adapts, to
    # itself), "folder" (the clips of one folder share one reference: one speaker, one
    # channel), "none" (nothing adapts); predict_many(groups=...) names groups directly
    adapt_by: str = "recording"
    # how a voice's reference is estimated from its windows or clips (adapt.REFERENCES):
    # "shrink" holds up best when one emotion dominates (benchmarks/skewed.py)
    reference: str = "shrink"
    # voices in a recording: 1 (all one speaker), N (fixed: windows split into N voices, each
    # adapted alone, segments say who), 0 (the count estimated, up to speakers.MAX_SPEAKERS)
    speakers: int = 1
    speaker_vote: int = 0  # windows either side whose voice a window's is voted with
    timeline: TimelineConfig = field(default_factory=TimelineConfig)
    speech: vad.VadConfig = field(default_factory=vad.VadConfig)
    limits: audio.AudioLimits = field(default_factory=audio.AudioLimits)
    block_seconds: float = 60.0  # decoded at a time
    batch: int = 8  # windows per model call


Progress = Callable[[float], None]  # told the seconds of audio finished since the last call


class _Clip(NamedTuple):
    """A clip waiting for its batch: its result to fill, its samples, the span of its speech
    and (when asked for) how to draw it once decided."""

    result: Result
    wave: np.ndarray
    span: tuple[float, float]
    draw: Callable[[Result], None] | None


class Analyzer:
    """A predictor with speech detection, timelines and abstention around it."""

    def __init__(self, predictor: Engine, cfg: AnalysisConfig | None = None) -> None:
        if not isinstance(predictor, Engine):
            raise TypeError(f"{type(predictor).__name__} is not an emovox Engine (infer/engine.py)")
        self.predictor = predictor
        self.labels: tuple[str, ...] = tuple(predictor.labels)
        cfg = cfg or AnalysisConfig()
        if cfg.adapt_by not in ADAPT_BY:
            raise ValueError(f"adapt_by must be one of {', '.join(ADAPT_BY)}, not {cfg.adapt_by!r}")
        if cfg.speakers < 0:
            raise ValueError(f"--speakers must be 0 (estimate) or a count, not {cfg.speakers}")
        if cfg.reference not in adapt.REFERENCES:
            raise ValueError(f"reference must be one of {', '.join(adapt.REFERENCES)}, not "
                             f"{cfg.reference!r}")  # fmt: skip
        if cfg.threshold is None:
            cfg = replace(
                cfg,
                threshold=DEFAULT_THRESHOLD if predictor.threshold is None else predictor.threshold,
            )
        self.cfg = cfg
        self._vad: vad.SpeechDetector | None = None

    def predict_waves(self, waves: list[np.ndarray]) -> np.ndarray:
        """Calibrated class probabilities (n, classes) of 16 kHz mono clips, as they are: the
        model alone, no speech detection (the engine's own answer)."""
        return self.predictor.predict_waves(waves)

    def predict(
        self,
        x,
        sr: int | None = None,
        plot: str | Path | None = None,
        progress: Progress | None = None,
        groups: Sequence | None = None,
    ) -> Result | list[Result]:
        """A path, file bytes, an open binary file or a wave (then ``sr`` is required: it is
        resampled to 16 kHz), or a list of them; a :class:`Result` each. ``plot``: write the
        input's picture there. Audio problems come back as results with ``error`` set, so one
        bad file never stops a list; only misuse (a wave without its rate) raises ValueError."""
        if isinstance(x, list | tuple):
            return list(self.predict_many(x, sr, progress=progress, groups=groups))
        return next(self.predict_many([x], sr, [plot], progress))

    def predict_many(
        self,
        inputs: Iterable,
        sr: int | None = None,
        plots: Sequence[str | Path | None] | None = None,
        progress: Progress | None = None,
        groups: Sequence | None = None,
    ) -> Iterator[Result]:
        """Results in input order, each as soon as it is known (inputs as :meth:`predict`
        takes them); clips wait for up to ``cfg.batch`` others so the model reads them in
        one batch. ``progress`` is told the seconds of audio finished. ``groups`` (a key per
        input, None: alone) or ``cfg.adapt_by == "folder"``: clips of one group share one
        reference voice (:mod:`emovox.infer.adapt`); then results come once all are read."""
        if groups is not None or self.cfg.adapt_by == "folder":
            # a Sequence stays as it is (it may read lazily: a batch group of many files)
            inputs = inputs if isinstance(inputs, Sequence) else list(inputs)
            yield from adapt.predict_grouped(self, inputs, sr, plots, progress, groups)
            return
        waiting: list[_Clip] = []

        def flush() -> Iterator[Result]:
            if waiting:
                yield from self._decide_clips(waiting)
                waiting.clear()

        for k, x in enumerate(inputs):
            step = self._step(x, sr, plots[k] if plots else None, progress)
            if isinstance(step, Result):
                yield from flush()
                yield step
            else:
                waiting.append(step)
                if len(waiting) >= self.cfg.batch:
                    yield from flush()
        yield from flush()

    def _step(self, x, sr, plot=None, progress=None, whole=None) -> Result | _Clip:
        """One input read: its finished Result (an error among them: nothing an input holds
        may stop the list it is in), or a clip waiting for its batch. Only misuse raises (a
        wave without its rate)."""
        if isinstance(x, np.ndarray) and sr is None:
            raise ValueError("a wave needs its sample rate: predict(wave, sr=44100)")
        name = inputs.name_of(x)
        try:
            name, blocks, source = inputs.opened(x, sr, self.cfg.block_seconds, self.cfg.limits)
            if isinstance(blocks, str):
                return Result(name, error=blocks)
            return self._analyze(name, blocks, plot, progress, source, whole)
        except audio.AudioError as exc:
            return Result(name, error=exc.cause, error_type=type(exc).__name__)
        except OSError as exc:  # unreadable: permissions, a device that went away
            return Result(name, error=exc.strerror or str(exc))
        except speakers.TooManySpeakers as exc:
            return Result(name, error=str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug must cost one input, not the list
            return internal_error(name, exc)

    # --- the steps ------------------------------------------------------------------------
    def _analyze(
        self,
        name: str,
        blocks: Callable[[], Iterable[np.ndarray]],
        plot,
        progress,
        source=None,
        whole: float | None = None,
    ) -> Result | _Clip:
        """A finished result, or a clip (up to ``whole`` seconds, default the window's) to
        decide in a batch."""
        whole = whole or self.cfg.timeline.window
        scan = self._scan(name, blocks, source, whole)
        regions = vad.regions(scan.vad_probs, scan.n, self.cfg.speech)
        duration = round(scan.n / SR, 3)
        if progress and (not regions or scan.kept):
            progress(scan.n / SR)
        if not regions:
            result = no_speech(
                Result(name, duration=duration, warnings=scan.warnings),
                scan,
                self.labels,
                self.cfg.limits,
                self.cfg.speech.min_speech,
            )
            self._draw(plot, result, scan, regions)
            return result
        if not scan.kept:  # longer than one window: decided by the samples kept, not a rounding
            return self._timeline(name, blocks, scan, regions, plot, progress)
        # one clip, predicted whole as it always was, from the samples pass 1 kept
        result = Result(name, speech=True, duration=duration, warnings=scan.warnings)
        draw = (lambda r: self._draw(plot, r, scan, regions)) if plot else None
        return _Clip(result, scan.clip(), (regions[0][0], regions[-1][1]), draw)

    def _scan(self, name: str, blocks, source, whole: float) -> timeline.Scan:
        """Pass 1: speech probabilities, envelope, length, level checks; a clip's samples."""
        scan = timeline.Scan(keep=int(whole * SR))
        truncated = audio.truncation(source) if source is not None else None
        if truncated:
            scan.warnings.append(truncated)
        scan.vad_probs = self.detector.speech(scan.tap(blocks()), self.cfg.speech)
        limits = self.cfg.limits
        if scan.n / SR < limits.min_seconds:
            raise audio.AudioTooShortError(
                name,
                f"{scan.n / SR:.3f} s is shorter than the minimum of {limits.min_seconds:.3f} s",
            )
        if scan.clipped / scan.n > limits.clip_fraction:
            clipped = f"{scan.clipped / scan.n:.2%} of samples at full scale, probably clipped"
            scan.warnings.append(clipped)
        return scan

    def _timeline(self, name, blocks, scan: timeline.Scan, regions, plot, progress) -> Result:
        """Pass 2: windows scored as their audio arrives, then the curve, segments, summary."""
        cfg = self.cfg.timeline
        spans = timeline.windows(regions, cfg)
        short = scoring.too_short(self, len(spans))
        if short and all(self.predictor.speaker_normalised()):
            return Result(name, error=f"too short for this model: {short}")
        probs, odd, dims, voices = scoring.score(self, blocks(), spans, scan.n, progress)
        # arousal, valence, each voice's share and unfamiliarity ride along the curve as more
        # columns (a grid point's voice: the one most of its windows were heard in)
        n_voices = int(voices.max()) + 1 if voices is not None else 0
        one_hot = np.eye(n_voices, dtype=np.float32)[voices] if n_voices else probs[:, :0]
        scored = np.concatenate([probs, dims, one_hot, odd[:, None]], axis=1)
        times, grid, covered = timeline.curve(spans, scored, scan.n / SR, cfg.step)
        odd_curve, grid = grid[:, -1], timeline.smooth(grid[:, :-1], covered, cfg.smooth, cfg.step)
        voice = grid[:, grid.shape[1] - n_voices :].argmax(1) if n_voices else None
        grid = grid[:, : grid.shape[1] - n_voices]
        grid, dims = grid[:, :-2], grid[:, -2:]
        unsure = odd_curve > self.cfg.unfamiliar
        segs = timeline.segments(
            times, grid, covered, self.labels, self.cfg.threshold, cfg, unsure, dims, voice
        )
        summ = timeline.summary(segs, self.labels, scan.n / SR)
        result = Result(name, speech=True, duration=summ["duration"], warnings=scan.warnings)
        result.segments, result.summary = segs, summ
        if short:  # too little of the voice: read plain, and said so; a warning only for a
            # recording (a clip read alone is the usual case, not a problem)
            result.adapted = adapt.not_adapted(short)
            if scan.n > adapt.CLIP_SECONDS * SR:
                result.warnings.append(f"not adapted to the speaker: {short}")
        if self._adapts(len(spans)):
            result.adapted = scoring.adapted_text(self, spans, voices)
        # the overall answer is decided as a clip's is, from the mean of the curve over speech
        # (each speech second counts once), so label, confidence and threshold agree
        self._decide(
            result, grid[covered].mean(0), float(np.nanmean(odd_curve[covered])), dims[covered]
        )
        self._draw(plot, result, scan, regions, (times, grid, covered, dims))
        return result

    def _draw(self, plot, result: Result, scan: timeline.Scan, regions, curve=(None,) * 4) -> None:
        """The picture of ``result`` at ``plot`` (nothing when no picture was asked for)."""
        if not plot:
            return
        from emovox.infer import plots

        times, grid, covered, dims = curve
        view = plots.View(
            labels=self.labels,
            duration=scan.n / SR,
            segments=result.segments or [],
            headline=headline(result),
            title=Path(result.path).name,
            envelope=scan.envelope(),
            envelope_rate=timeline.ENVELOPE_RATE,
            regions=regions,
            times=times,
            grid=grid,
            covered=covered,
            dims=dims,
            probabilities=result.probabilities,
            arousal_valence=(result.arousal, result.valence),
        )
        plots.draw(plot, view)

    def _decide_clips(self, clips: list[_Clip], scored=None) -> list[Result]:
        """:meth:`_decided` of a batch; should the batch fail, each clip alone, so that what
        breaks is one clip's error and the others are still answered."""
        try:
            return self._decided(clips, scored)
        except Exception as exc:  # noqa: BLE001 - see _step
            if len(clips) == 1 or scored is not None:
                return [internal_error(c.result.path, exc) for c in clips]
            return [r for c in clips for r in self._decide_clips([c])]

    def _decided(self, clips: list[_Clip], scored=None) -> list[Result]:
        """Clips through the model in one batch (or their ``scored`` :meth:`_predict`); each
        answer is its one segment. A model that must adapt to a voice cannot read a clip alone."""
        if scored is None and all(self.predictor.speaker_normalised()):
            why = (
                "too short for this model: it answers only once adapted to the speaker; "
                "pass clips of one speaker together (groups=, --adapt-by) or a recording"
            )
            return [Result(c.result.path, error=why) for c in clips]
        probs, odd, dims = scored or self._predict([c.wave for c in clips])
        for c, p, o, d in zip(clips, probs, odd, dims, strict=True):
            r = self._decide(c.result, p, float(o), d[None])
            start, end = (round(t, 3) for t in c.span)
            seg = Segment(start, end, r.emotion, r.confidence, dict(r.probabilities), r.reason,
                          r.arousal, r.valence)  # fmt: skip
            r.segments, r.summary = [seg], timeline.summary([seg], self.labels, r.duration)
            if c.draw:
                c.draw(r)
        return [c.result for c in clips]

    def _predict(self, waves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(probabilities (n, classes), unfamiliarity (n,), arousal and valence (n, 2)) of
        waves read alone."""
        p = self.predictor
        if p.reads_statistics and not all(p.speaker_normalised()):
            return self._classify(p.member_inputs(waves))
        probs, odd = p.predict_scored(waves)
        return probs, odd, probs @ axes(self.labels)

    def _classify(
        self, inputs: list[np.ndarray], adapted: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_predict` from member statistics (``adapted`` to the voice, or not: which
        heads vote): arousal and valence from the model's trained heads, or, without them,
        where the probabilities sit on the two axes."""
        probs, odd = self.predictor.classify(inputs, adapted)
        dims = self.predictor.dimension_scores(inputs, adapted)
        return probs, odd, dims if dims is not None else probs @ axes(self.labels)

    def _asks_adapting(self) -> bool:
        """Whether recordings are to be adapted: asked for (or required by speaker-normalised
        members), and possible for the model."""
        p, cfg = self.predictor, self.cfg
        asked = (cfg.adapt and cfg.adapt_by != "none") or all(p.speaker_normalised())
        return p.reads_statistics and asked

    def _adapts(self, windows: int) -> bool:
        """Whether this recording's windows are adapted to it: asked, and enough of the voice."""
        return self._asks_adapting() and windows >= self.cfg.adapt_min_windows

    def _adapted(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        p = self.predictor
        return adapt.to_recording(inputs, p.training_means(), p.speaker_normalised(),
                                  self.cfg.reference, lambda x: p.classify(x, True)[0])  # fmt: skip

    def _decide(self, result: Result, probs: np.ndarray, odd: float, dims: np.ndarray) -> Result:
        """Top emotion, or None with a reason when its probability is under the threshold or
        the input is unlike the speech the model learned from; arousal and valence, the mean
        of ``dims`` (n, 2)."""
        k = int(probs.argmax())
        result.confidence = round(float(probs[k]), 4)
        result.probabilities = {
            lab: round(float(p), 4) for lab, p in zip(self.labels, probs, strict=True)
        }
        result.arousal, result.valence = (round(float(v), 4) for v in dims.mean(0))
        cfg = self.cfg
        result.emotion, result.reason, result.detail = self.labels[k], None, None
        if odd > cfg.unfamiliar:
            result.emotion, result.reason = None, "unfamiliar"
            result.detail = f"unlike the speech it learned from ({odd:.1f} > {cfg.unfamiliar:g})"
        elif probs[k] < cfg.threshold:
            result.emotion, result.reason = None, "unsure"
            result.detail = f"top probability {probs[k]:.2f} < threshold {cfg.threshold:.2f}"
        return result

    @property
    def detector(self) -> vad.SpeechDetector:
        if self._vad is None:
            self._vad = vad.SpeechDetector()
        return self._vad
