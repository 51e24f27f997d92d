"""What emovox says about one input (:class:`Result`), the same keys for a clip and an hour,
and the overall answer in words as the text output, the pictures and the page state it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from emovox.audio.decode import SAMPLE_RATE
from emovox.infer import timeline
from emovox.infer.timeline import Segment

#: why ``emotion`` is None: no speech found, digital silence, speech too quiet to find, the
#: top probability under the threshold, or input unlike the speech the model learned from
REASONS = ("no_speech", "silent", "too_quiet", "unsure", "unfamiliar")


@dataclass
class Result:
    """What emovox says about one input: the same keys for a clip and an hour. ``emotion`` is
    None when there is no speech or the model is unsure (``reason``, one of :data:`REASONS`,
    says which, ``detail`` in words); ``error`` is set instead when it cannot be read.
    ``segments`` (one for a clip) and ``summary`` are always there for a readable input."""

    path: str
    emotion: str | None = None
    confidence: float | None = None
    probabilities: dict[str, float] | None = None
    arousal: float | None = None  # in [-1, 1]: the model's arousal head, or where the
    #   probabilities sit (data.labels) for models without one
    valence: float | None = None
    speech: bool | None = None
    reason: str | None = None
    detail: str | None = None
    duration: float | None = None
    segments: list[Segment] | None = None
    summary: dict | None = None
    adapted: str | None = None  # what the model was adapted to (None: the input alone)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    error_type: str | None = field(default=None, repr=False)  # the AudioError class, for servers

    def to_dict(self) -> dict:
        """JSON-ready: ``path`` and ``error`` for an input that could not be read, else every
        key of an answer (None where it does not apply)."""
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        del out["error"], out["error_type"]
        out["segments"] = [s.to_dict() for s in self.segments or []]
        return out


def headline(result: Result) -> str:
    """The overall answer in words, as the text output, the picture and the page state it."""
    if result.error is not None:
        return f"error: {result.error}"
    if result.emotion is not None:
        return f"{result.emotion} {result.confidence:.2f}"
    return f"{result.reason.replace('_', ' ')}: {result.detail}" if result.reason else "-"


def no_speech(result: Result, scan: timeline.Scan, labels, limits) -> Result:
    """``speech`` False, with why: digital silence, too quiet to find speech, or none."""
    result.speech, result.segments = False, []
    seconds = scan.n / SAMPLE_RATE
    result.summary = timeline.summary([], labels, seconds)
    dbfs = 20 * np.log10(max(scan.peak, 1e-10))
    if scan.peak < limits.silence_peak:
        level = "every sample zero" if scan.peak == 0 else f"peak {dbfs:.0f} dBFS"
        result.reason, result.detail = "silent", f"digital silence ({level})"
    elif scan.peak < limits.quiet_peak:
        result.reason = "too_quiet"
        result.detail = (
            f"no speech found, but the audio is very quiet (peak {dbfs:.0f} dBFS): "
            "raise its level and try again"
        )
    else:
        result.reason = "no_speech"
        result.detail = f"the speech detector found none in {seconds:.1f} s of audio"
    return result
