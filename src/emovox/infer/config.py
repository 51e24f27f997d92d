"""The analysis's settings, one source for each: what inputs adapt to, the "unsure" gate,
the timeline, speech detection and audio limits (defaults measured: docs/analysis.md)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

from emovox import audio
from emovox.audio import vad
from emovox.infer.timeline import TimelineConfig

# what an input is adapted to: "recording" (a recording longer than a clip, to itself; each
# voice to its own windows when split by voice), "folder" (the clips of one folder, or of one
# request to the service, share one reference: one speaker, one channel), "none"; a column's
# groups are ``predict(groups=...)`` in Python and ``--adapt column:NAME`` in batch
ADAPT = ("recording", "folder", "none")
ADAPT_HELP = (
    "what inputs adapt to: recording (default): a recording longer than a clip, to itself "
    "(each voice to its own windows when split by speaker); folder: the clips of one folder "
    "(one speaker or channel) share one reference voice, read from all of them (10 clips or "
    "more; results come once all are read); none: nothing adapts"
)
# which class prior inputs are read under: "model", the balanced one the model learned (each
# clip on its own), or "group", each folder's, group's or recording's own, estimated from its
# answers (label-shift correction: .prior)
PRIORS = ("model", "group")
PRIOR_HELP = (
    "which mix of emotions inputs are read under: model (default): the balanced one the model "
    "learned, each clip on its own; group: each folder's (or group's, or recording's) own, "
    "estimated from its answers and shrunk toward balanced (20 clips or windows or more; "
    "each result's 'prior' holds the estimate)"
)
DEFAULT_THRESHOLD = 0.3  # the "unsure" gate of models that do not carry their own


@dataclass(frozen=True)
class AnalysisConfig:
    """Settings of the analysis around the model (defaults measured: docs/analysis.md).

    ``adapt``: what inputs adapt to, in the words every front end uses (``--adapt``, the
    service's ``adapt`` field): "recording" (default), "folder" or "none"; a column's groups
    are ``predict(groups=...)`` here and ``--adapt column:NAME`` in ``emovox batch``."""

    # below this calibrated top probability the answer is "unsure"; None: the model's own
    # (fitted with its temperature: MODEL_CARD.md), else DEFAULT_THRESHOLD
    threshold: float | None = None
    unfamiliar: float = 4.5  # above this unfamiliarity (about 1 on training data) too
    adapt: str = "recording"  # what inputs adapt to (ADAPT): "recording", "folder" or "none"
    adapt_min_windows: int = 10  # fewer windows (or clips) than this: too little to adapt
    prior: str = "model"  # the class prior inputs are read under (PRIORS): the model's, or
    #   each folder's, group's or recording's own, estimated from its answers
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
    adapt_by: str | None = None  # 0.5's spelling of ``adapt`` (with adapt=False): until 0.7

    def __post_init__(self) -> None:
        object.__setattr__(self, "adapt", adapt_value(self.adapt, self.adapt_by))
        object.__setattr__(self, "adapt_by", None)
        if self.prior not in PRIORS:
            raise ValueError(f"prior must be one of {', '.join(PRIORS)}, not {self.prior!r}")


def adapt_value(adapt: str | bool, adapt_by: str | None = None) -> str:
    """``adapt`` in this release's words, from 0.5's ``adapt=True/False`` and ``adapt_by=``
    too (with a DeprecationWarning; both go in 0.7); a ValueError for anything else."""
    if isinstance(adapt, bool) or adapt_by is not None:
        warnings.warn(
            "adapt=True/False and adapt_by= are now one setting, adapt='recording', 'folder' "
            "or 'none'; the old spellings go in 0.7",
            DeprecationWarning,
            stacklevel=4,
        )
        on = adapt if isinstance(adapt, bool) else adapt != "none"
        adapt = "none" if not on or adapt_by == "none" else (adapt_by or "recording")
        if isinstance(adapt, str) and adapt not in ADAPT and adapt_by is None:
            adapt = "recording"
    if adapt not in ADAPT:
        raise ValueError(f"adapt must be one of {', '.join(ADAPT)}, not {adapt!r}")
    return adapt
