"""Emotion of real recordings: decode -> speech detection -> a clip result, or for a recording
longer than one window an emotion timeline -> an honest answer ("no speech", "unsure").

A recording is read twice, block by block (:func:`emovox.audio.stream`): once for speech
detection and the waveform envelope, once to cut the prediction windows as their audio
arrives, so memory does not grow with its length. :class:`Analyzer` wraps an engine
(NumPy or torch); ``emovox.load_model()`` returns one. The steps, in order: decode
(:mod:`.inputs`), detect speech (:meth:`Analyzer.detect`), window (:func:`.timeline.windows`),
encode, adapt and classify (:mod:`.steps`, :mod:`.scoring`), decide, segment
(:meth:`Analyzer.segment`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from emovox import audio
from emovox.audio import vad
from emovox.audio.decode import SAMPLE_RATE as SR
from emovox.infer import adapt, inputs, scoring, speakers, timeline
from emovox.infer.config import ADAPT, ADAPT_HELP, DEFAULT_THRESHOLD, AnalysisConfig
from emovox.infer.engine import Engine
from emovox.infer.groups import predict_grouped
from emovox.infer.result import REASONS, Result, headline, internal_error, no_speech
from emovox.infer.steps import Clip, Scores, Steps, prior_said
from emovox.infer.timeline import Segment

__all__ = [
    "ADAPT",
    "ADAPT_HELP",
    "REASONS",
    "AnalysisConfig",
    "Analyzer",
    "Result",
    "Segment",
    "headline",
]


Progress = Callable[[float], None]  # told the seconds of audio finished since the last call


class Analyzer:
    """An engine with speech detection, timelines and abstention around it: the analysis
    pipeline whose steps the module docstring lists."""

    def __init__(self, engine: Engine, cfg: AnalysisConfig | None = None) -> None:
        if not isinstance(engine, Engine):
            raise TypeError(f"{type(engine).__name__} is not an emovox Engine (infer/engine.py)")
        self.engine = engine
        self.labels: tuple[str, ...] = tuple(engine.labels)
        cfg = cfg or AnalysisConfig()
        if cfg.speakers < 0:
            raise ValueError(f"--speakers must be 0 (estimate) or a count, not {cfg.speakers}")
        if cfg.reference not in adapt.REFERENCES:
            raise ValueError(
                f"reference must be one of {', '.join(adapt.REFERENCES)}, not {cfg.reference!r}"
            )
        if cfg.threshold is None:
            cfg = replace(
                cfg,
                threshold=DEFAULT_THRESHOLD if engine.threshold is None else engine.threshold,
            )
        self.cfg = cfg
        self.steps = Steps(engine, cfg)
        self._vad: vad.SpeechDetector | None = None

    def predict_waves(self, waves: list[np.ndarray]) -> np.ndarray:
        """Calibrated class probabilities (n, classes) of 16 kHz mono clips, as they are: the
        model alone, no speech detection (the engine's own answer)."""
        return self.engine.predict_waves(waves)

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
        adapt_groups: bool | None = None,
    ) -> Iterator[Result]:
        """Results in input order, each as soon as it is known (inputs as :meth:`predict`
        takes them); clips wait for up to ``cfg.batch`` others so the model reads them in
        one batch. ``progress`` is told the seconds of audio finished. ``groups`` (a key per
        input, None: alone) or ``cfg.adapt == "folder"``: clips of one group share one
        reference voice (:mod:`emovox.infer.adapt`); ``cfg.prior == "group"``: each group's
        own class prior (:mod:`emovox.infer.prior`); then results come once all are read.
        ``adapt_groups``: whether groups adapt (None: with ``groups`` given or
        ``adapt="folder"``, unless ``adapt="none"``)."""
        if groups is not None or self.cfg.adapt == "folder" or self.cfg.prior == "group":
            # a Sequence stays as it is (it may read lazily: a batch group of many files)
            inputs = inputs if isinstance(inputs, Sequence) else list(inputs)
            yield from predict_grouped(self.read, self.steps, inputs, sr, plots, progress, groups,
                                       adapt_groups)  # fmt: skip
            return
        waiting: list[Clip] = []

        def flush() -> Iterator[Result]:
            if waiting:
                yield from self.steps.decide_clips(waiting)
                waiting.clear()

        for k, x in enumerate(inputs):
            step = self.read(x, sr, plots[k] if plots else None, progress)
            if isinstance(step, Result):
                yield from flush()
                yield step
            else:
                waiting.append(step)
                if len(waiting) >= self.cfg.batch:
                    yield from flush()
        yield from flush()

    def read(self, x, sr, plot=None, progress=None, clip_seconds=None) -> Result | Clip:
        """One input read: its finished Result (an error among them: nothing an input holds
        may stop the list it is in), or a clip waiting for its batch. Only misuse raises (a
        wave without its rate)."""
        if isinstance(x, np.ndarray) and sr is None:
            raise ValueError("a wave needs its sample rate: predict(wave, sr=44100)")
        name = inputs.name_of(x)
        try:
            got = inputs.opened(x, sr, self.cfg.block_seconds, self.cfg.limits)
            name = got.name
            if got.blocks is None:
                return Result(name, error=got.problem)
            return self._analyze(got, plot, progress, clip_seconds)
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
        self, got: inputs.Opened, plot, progress, clip_seconds: float | None = None
    ) -> Result | Clip:
        """A finished result, or a clip (up to ``clip_seconds``, default the window's) to
        decide in a batch."""
        name, blocks = got.name, got.blocks
        scan = self.detect(name, blocks, got.source, clip_seconds or self.cfg.timeline.window)
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
            return self._recording(name, blocks, scan, regions, plot, progress)
        # one clip, predicted whole as it always was, from the samples pass 1 kept
        result = Result(name, speech=True, duration=duration, warnings=scan.warnings)
        draw = (lambda r: self._draw(plot, r, scan, regions)) if plot else None
        return Clip(result, scan.clip(), (regions[0][0], regions[-1][1]), draw)

    def detect(self, name: str, blocks, source, clip_seconds: float) -> timeline.Scan:
        """Pass 1: speech probabilities, envelope, length, level checks; a clip's samples."""
        scan = timeline.Scan(keep=int(clip_seconds * SR))
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

    def _recording(self, name, blocks, scan: timeline.Scan, regions, plot, progress) -> Result:
        """Pass 2: windows scored as their audio arrives, then the curve, segments, summary."""
        spans = timeline.windows(regions, self.cfg.timeline)
        short = scoring.too_short(self.steps, len(spans))
        if short and all(self.engine.speaker_normalised()):
            return Result(name, error=f"too short for this model: {short}")
        scores = scoring.score(self.steps, blocks(), spans, scan.n, progress)
        shift = self.steps.shift(scores, "window")  # the recording's own prior, when asked
        curve = self.segment(spans, scores, scan.n / SR)
        result = Result(
            name, speech=True, duration=curve.summary["duration"], warnings=scan.warnings
        )
        result.segments, result.summary = curve.segments, curve.summary
        if short:  # too little of the voice: read plain, and said so; a warning only for a
            # recording (a clip read alone is the usual case, not a problem)
            result.adapted = adapt.not_adapted(short)
            if scan.n > adapt.CLIP_SECONDS * SR:
                result.warnings.append(f"not adapted to the speaker: {short}")
        if self.steps.adapts(len(spans)):
            result.adapted = scoring.adapted_text(self.steps, spans, scores.voices)
        if shift is not None:
            result.adapted = (result.adapted or "not adapted") + prior_said(shift)
            result.prior = shift.prior if shift.applied else None
        # the overall answer is decided as a clip's is, from the mean of the curve over speech
        # (each speech second counts once), so label, confidence and threshold agree
        c = curve.covered
        far = float(np.nanmean(curve.unfamiliarity[c]))
        self.steps.decide(result, curve.probabilities[c].mean(0), far, curve.dimensions[c])
        self._draw(plot, result, scan, regions, curve)
        return result

    def segment(self, spans, scores: Scores, duration: float) -> timeline.Curve:
        """The windows' scores as curves over time (each grid point the mean of the windows
        covering it; all but unfamiliarity smoothed), cut into segments and summed up."""
        cfg = self.cfg.timeline

        def curve(values: np.ndarray, smoothed: bool = True) -> np.ndarray:
            times, grid, covered = timeline.curve(spans, values, duration, cfg.step)
            return timeline.smooth(grid, covered, cfg.smooth, cfg.step) if smoothed else grid

        times, _, covered = timeline.curve(spans, scores.probabilities[:, :0], duration, cfg.step)
        probs, dims = curve(scores.probabilities), curve(scores.dimensions)
        unfamiliarity = curve(scores.unfamiliarity[:, None], smoothed=False)[:, 0]
        voice = None
        if scores.voices is not None:  # a grid point's voice: the one most of its windows had
            n_voices = int(scores.voices.max()) + 1
            voice = curve(np.eye(n_voices, dtype=np.float32)[scores.voices]).argmax(1)
        unsure = unfamiliarity > self.cfg.unfamiliar
        segs = timeline.segments(
            times, probs, covered, self.labels, self.cfg.threshold, cfg, unsure, dims, voice
        )
        summ = timeline.summary(segs, self.labels, duration)
        return timeline.Curve(times, probs, covered, dims, unfamiliarity, segs, summ)

    def _draw(self, plot, result: Result, scan: timeline.Scan, regions, curve=None) -> None:
        """The picture of ``result`` at ``plot`` (nothing when no picture was asked for)."""
        if not plot:
            return
        from emovox.infer import plots

        times, grid, covered, dims = (
            (curve.times, curve.probabilities, curve.covered, curve.dimensions)
            if curve
            else (None,) * 4
        )
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

    def stream(self, sr: int = SR):
        """A live stream (:class:`emovox.infer.live.Stream`): ``feed`` it samples at ``sr``
        as they arrive for events (speech, segments, the running answer), then ``close`` it
        for the final result, the same as :meth:`predict` on the same audio."""
        from emovox.infer.live import Stream

        return Stream(self, sr)

    @property
    def predictor(self) -> Engine:
        """0.5's name for :attr:`engine` (until 0.7)."""
        warnings.warn(
            "Analyzer.predictor is now Analyzer.engine; the old name goes in 0.7",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.engine

    @property
    def detector(self) -> vad.SpeechDetector:
        if self._vad is None:
            self._vad = vad.SpeechDetector()
        return self._vad
