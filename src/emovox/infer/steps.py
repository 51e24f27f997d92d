"""The analysis's model steps, shared by clips, recordings and groups: encode (the engine's
per-member statistics), adapt (to the voice: :mod:`emovox.infer.adapt`), classify, and decide
(an emotion, or none with a reason). :class:`emovox.infer.analyzer.Analyzer` runs them after
decoding, speech detection and windowing; :mod:`.scoring` and :func:`.groups.predict_grouped`
call them on a recording's windows and on a group's clips."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from emovox.data.labels import axes
from emovox.infer import adapt, prior, timeline
from emovox.infer.config import AnalysisConfig
from emovox.infer.engine import Engine
from emovox.infer.result import Result, internal_error
from emovox.infer.timeline import Segment


@dataclass
class Scores:
    """What the model says of n windows or clips, one named array each."""

    probabilities: np.ndarray  # (n, classes), calibrated
    unfamiliarity: np.ndarray  # (n,): about 1 on speech like the training data
    dimensions: np.ndarray  # (n, 2): arousal and valence in [-1, 1]
    voices: np.ndarray | None = None  # (n,): each window's voice (None: one voice)

    @classmethod
    def empty(cls, n: int, classes: int) -> Scores:
        zeros = np.zeros
        return cls(zeros((n, classes), np.float32), zeros(n, np.float32), zeros((n, 2), np.float32))

    def put(self, rows, other: Scores) -> None:
        """``other``'s answers into ``rows``."""
        self.probabilities[rows] = other.probabilities
        self.unfamiliarity[rows] = other.unfamiliarity
        self.dimensions[rows] = other.dimensions


class Clip(NamedTuple):
    """A clip waiting for its batch: its result to fill, its samples, the span of its speech
    and (when asked for) how to draw it once decided."""

    result: Result
    wave: np.ndarray | None
    span: tuple[float, float]
    draw: Callable[[Result], None] | None


class Steps:
    """An engine and the analysis settings: the steps that ask the model."""

    def __init__(self, engine: Engine, cfg: AnalysisConfig) -> None:
        self.engine, self.cfg = engine, cfg
        self.labels: tuple[str, ...] = tuple(engine.labels)

    # --- adapting: whether, and to what -----------------------------------------------------
    def asks_adapting(self) -> bool:
        """Whether inputs are to be adapted: asked for (or required by speaker-normalised
        members), and possible for the model."""
        e, cfg = self.engine, self.cfg
        asked = cfg.adapt != "none" or all(e.speaker_normalised())
        return e.reads_statistics and asked

    def adapts(self, windows: int) -> bool:
        """Whether a recording of ``windows`` is adapted to itself: asked, and enough voice."""
        return self.asks_adapting() and windows >= self.cfg.adapt_min_windows

    def enough(self, windows: int) -> bool:
        """Whether a voice has windows enough to adapt to (a model of speaker-normalised heads
        only has no other way to answer, so it adapts to what there is)."""
        return windows >= self.cfg.adapt_min_windows or all(self.engine.speaker_normalised())

    def heads(self) -> str:
        """Which heads answer speech adapted to a voice (both kinds vote)."""
        kinds = set(self.engine.speaker_normalised())
        named = (("plain", False in kinds), ("speaker-normalised", True in kinds))
        return " + ".join(k for k, on in named if on)

    # --- encode, adapt, classify ------------------------------------------------------------
    def encode(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """Per member, the statistics of each wave (the engine's :meth:`member_inputs`)."""
        return self.engine.member_inputs(waves)

    def adapt(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Member statistics of one voice relative to that voice's own reference."""
        e = self.engine
        return adapt.to_recording(
            inputs,
            e.training_means(),
            e.speaker_normalised(),
            self.cfg.reference,
            lambda x: e.classify(x, True)[0],
        )

    def classify(self, inputs: list[np.ndarray], adapted: bool = False) -> Scores:
        """Scores from member statistics (``adapted`` to the voice, or not: which heads vote):
        arousal and valence from the trained heads, or where the probabilities sit on the two
        axes when the model has none."""
        probs, unfamiliar = self.engine.classify(inputs, adapted)
        dims = self.engine.dimension_scores(inputs, adapted)
        return Scores(probs, unfamiliar, dims if dims is not None else probs @ axes(self.labels))

    def shift(self, scores: Scores, unit: str = "clip") -> prior.Shift | None:
        """A group's scores (of clips, or of a recording's windows) re-weighted to its own
        estimated class prior (label shift), in place; None when the settings read it under
        the model's."""
        if self.cfg.prior != "group":
            return None
        got = prior.correct(scores.probabilities, self.labels, unit=unit)
        scores.probabilities = got.probabilities
        return got

    def alone(self, waves: list[np.ndarray]) -> Scores:
        """Scores of waves read alone, nothing adapted."""
        e = self.engine
        if e.reads_statistics and not all(e.speaker_normalised()):
            return self.classify(self.encode(waves))
        probs, unfamiliar = e.predict_scored(waves)
        return Scores(probs, unfamiliar, probs @ axes(self.labels))

    # --- decide -----------------------------------------------------------------------------
    def decide(
        self, result: Result, probs: np.ndarray, unfamiliarity: float, dims: np.ndarray
    ) -> Result:
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
        if unfamiliarity > cfg.unfamiliar:
            result.emotion, result.reason = None, "unfamiliar"
            far = f"{unfamiliarity:.1f} > {cfg.unfamiliar:g}"
            result.detail = f"unlike the speech it learned from ({far})"
        elif probs[k] < cfg.threshold:
            result.emotion, result.reason = None, "unsure"
            result.detail = f"top probability {probs[k]:.2f} < threshold {cfg.threshold:.2f}"
        return result

    def decide_clips(self, clips: list[Clip], scores: Scores | None = None) -> list[Result]:
        """Clips through the model in one batch (or their given ``scores``); should the batch
        fail, each clip alone, so that what breaks is one clip's error."""
        try:
            return self._decided(clips, scores)
        except Exception as exc:  # noqa: BLE001 - a bug must cost one input, not the list
            if len(clips) == 1 or scores is not None:
                return [internal_error(c.result.path, exc) for c in clips]
            return [r for c in clips for r in self.decide_clips([c])]

    def _decided(self, clips: list[Clip], scores: Scores | None) -> list[Result]:
        """Each clip's answer, its one segment; a model that must adapt to a voice cannot read
        a clip alone."""
        if scores is None and all(self.engine.speaker_normalised()):
            why = (
                "too short for this model: it answers only once adapted to the speaker; "
                "pass clips of one speaker together (groups=, adapt='folder') or a recording"
            )
            return [Result(c.result.path, error=why) for c in clips]
        s = scores or self.alone([c.wave for c in clips])
        each = zip(clips, s.probabilities, s.unfamiliarity, s.dimensions, strict=True)
        for c, p, o, d in each:
            r = self.decide(c.result, p, float(o), d[None])
            seg = segment_of(r, *c.span)
            r.segments, r.summary = [seg], timeline.summary([seg], self.labels, r.duration)
            if c.draw:
                c.draw(r)
        return [c.result for c in clips]


def segment_of(result: Result, start: float, end: float) -> Segment:
    """A decided result as the segment spanning ``start``-``end`` (a clip's one segment, a
    live window's)."""
    r = result
    span = round(start, 3), round(end, 3)
    return Segment(*span, r.emotion, r.confidence, dict(r.probabilities), r.reason, r.arousal,
                   r.valence)  # fmt: skip


def prior_said(shift: prior.Shift | None) -> str:
    """What ``adapted`` adds of the prior a group or recording was read under."""
    if shift is None:
        return ""
    if shift.applied:
        return "; prior: its own, estimated from its answers"
    return f"; prior: the model's ({shift.reason})"
