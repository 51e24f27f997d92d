"""What emovox says about one input (:class:`Result`), the same keys for a clip and an hour,
and the overall answer in words as the text output, the pictures and the page state it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from emovox.audio.decode import SAMPLE_RATE
from emovox.infer import timeline
from emovox.infer.timeline import Segment

#: why ``emotion`` is None: no speech found, digital silence, speech too quiet to find, too
#: short for the detector to find speech in, the top probability under the threshold, or
#: input unlike the speech the model learned from
REASONS = ("no_speech", "silent", "too_quiet", "too_short", "unsure", "unfamiliar")


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
    # the class prior estimated for the input's folder or group, its answer re-weighted to it
    # (None: read under the model's own; ``adapted`` says why)
    prior: dict[str, float] | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    error_type: str | None = field(default=None, repr=False)  # the AudioError class, for servers

    def to_dict(self) -> dict:
        """JSON-ready, with every key for every input (:data:`KEYS`): an input that could not
        be read has ``error`` set and None (or empty) where nothing is known, an answer has
        ``error`` None, so a reader of ``r["emotion"]`` never meets a missing key."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        del out["error_type"]
        out["segments"] = [s.to_dict() for s in self.segments or []]
        return out


#: the keys of every result's :meth:`Result.to_dict`, in order
KEYS = tuple(f.name for f in fields(Result) if f.name != "error_type")


#: ``error_type`` of an input that failed for a reason emovox did not foresee (a bug)
INTERNAL = "InternalError"


def internal_error(path: str, exc: BaseException) -> Result:
    """The answer for an input whose analysis raised what no check foresaw: it names the
    exception and asks for a report, so a list, a server or a batch goes on without it."""
    why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return Result(
        path,
        error=f"unexpected error ({why}); this is a bug in emovox: please report it with "
        "`emovox --version`, the command and, if you can, the file",
        error_type=INTERNAL,
    )


def headline(result: Result) -> str:
    """The overall answer in words, as the text output, the picture and the page state it."""
    if result.error is not None:
        return f"error: {result.error}"
    if result.emotion is not None:
        return f"{result.emotion} {result.confidence:.2f}"
    return f"{result.reason.replace('_', ' ')}: {result.detail}" if result.reason else "-"


def no_speech(result: Result, scan: timeline.Scan, labels, limits, shortest: float) -> Result:
    """``speech`` False, with why: digital silence, too quiet to find speech, too short to
    (no more than ``shortest`` seconds, the least speech the detector keeps), or none."""
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
    elif scan.n <= round(shortest * SAMPLE_RATE):
        result.reason = "too_short"
        result.detail = (
            f"{seconds:.3f} s is too short to find speech in: the detector keeps "
            f"speech longer than {shortest:g} s"
        )
    else:
        result.reason = "no_speech"
        result.detail = f"the speech detector found none in {seconds:.1f} s of audio"
    return result
