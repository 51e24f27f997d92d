"""What emovox says about one input (:class:`Result`), the same keys for a clip and an hour,
and the overall answer in words as the text output, the pictures and the page state it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

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
    arousal: float | None = None  # in [-1, 1]: where the probabilities sit (data.labels)
    valence: float | None = None
    speech: bool | None = None
    reason: str | None = None
    detail: str | None = None
    duration: float | None = None
    segments: list[Segment] | None = None
    summary: dict | None = None
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
