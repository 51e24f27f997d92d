"""Adapting a model's inputs to the voice it is hearing: each member's pooled encoder
statistics of a recording's windows taken relative to the recording itself, or of clips
relative to the other clips of their folder or group (one speaker, one channel)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emovox.features import standardise as std

# how a voice's reference (the statistics taken as its neutral) is estimated from its windows
# or clips; see to_recording
REFERENCES = ("mean", "median", "shrink", "balanced")
SHRINK_PRIOR = 10  # windows' worth of weight the training mean keeps under "shrink"


def to_recording(
    inputs: list[np.ndarray],
    training_means: list[np.ndarray],
    standardise: list[bool],
    reference: str = "mean",
    classify=None,
) -> list[np.ndarray]:
    """Each member's window statistics (windows, dims) relative to the recording itself:
    standardised (members trained on per-speaker standardised statistics), or shifted so the
    recording's reference becomes the training mean (the others).

    ``reference``: "mean" of all windows; per-dimension "median"; "shrink", the mean pulled
    toward the training mean by ``SHRINK_PRIOR`` windows' weight; "balanced", each emotion the
    model hears weighing the same (``classify``, inputs -> probabilities, says which), so a
    recording that is mostly one emotion is not taken for the speaker's neutral."""
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {', '.join(REFERENCES)}, not {reference!r}")
    if reference != "balanced":
        return _shifted(inputs, training_means, standardise, reference, None)
    if classify is None:
        raise ValueError('reference="balanced" needs the model\'s classify')
    out = _shifted(inputs, training_means, standardise, "mean", None)
    for _ in range(2):  # the weights from the answers adapted so far, twice
        probs = classify(out)
        weights = (probs / np.maximum(probs.sum(0), 1e-6)).sum(1)  # 1 / its emotion's mass
        out = _shifted(inputs, training_means, standardise, "mean", weights)
    return out


def _shifted(inputs, training_means, standardise, reference: str, weights) -> list[np.ndarray]:
    out = []
    for x, mean, std_norm in zip(inputs, training_means, standardise, strict=True):
        if reference == "median":
            mu = np.median(x, 0).astype(np.float64)
        elif weights is not None:
            mu = np.average(x, 0, weights.astype(np.float64))
        else:
            mu = x.mean(0, dtype=np.float64)  # float64 sums, float32 arrays: no copy of x grows
        sd = std.mean_std(x)[1] if std_norm else None
        out.append(relative(x, mu, sd, len(x), mean, reference))
    return out


def relative(x: np.ndarray, mu, sd, n: int, mean: np.ndarray, reference: str) -> np.ndarray:
    """One member's statistics ``x`` relative to a voice whose ``n`` windows have mean ``mu``
    (and, for a standardising member, spread ``sd``; else None): standardised, or shifted so
    ``mu`` (under "shrink", pulled toward the training ``mean``) lands on ``mean``."""
    if sd is not None:
        return std.standardise(x, mu, sd)
    if reference == "shrink":  # (a standardising member's training mean is of standardised
        # statistics: nothing in that space to shrink toward)
        mu = (n * mu + SHRINK_PRIOR * mean) / (n + SHRINK_PRIOR)
    return x + (mean - mu).astype(np.float32)


class Running:
    """A voice's reference kept as sums while its windows arrive (live analysis): memory
    stays the same however long it speaks. Only the references a mean defines ("mean",
    "shrink") can be kept so."""

    def __init__(self, reference: str) -> None:
        self.reference = "shrink" if reference not in ("mean", "shrink") else reference
        self.n, self.sums, self.squares = 0, None, None

    def add(self, inputs: list[np.ndarray]) -> None:
        """Windows' statistics, per member (windows, dims)."""
        if self.sums is None:
            self.sums = [np.zeros(x.shape[1]) for x in inputs]
            self.squares = [np.zeros(x.shape[1]) for x in inputs]
        for k, x in enumerate(inputs):
            self.sums[k] += x.sum(0, dtype=np.float64)
            self.squares[k] += (x.astype(np.float64) ** 2).sum(0)
        self.n += len(inputs[0])

    def adapt(self, inputs, training_means, standardise) -> list[np.ndarray]:
        """``inputs`` relative to the voice heard so far."""
        out = []
        for k, (x, mean, std_norm) in enumerate(
            zip(inputs, training_means, standardise, strict=True)
        ):
            mu = self.sums[k] / self.n
            var = np.maximum(self.squares[k] / self.n - mu * mu, 0.0)
            sd = np.maximum(np.sqrt(var), std.STD_FLOOR) if self.n > 1 else np.ones_like(mu)
            out.append(relative(x, mu, sd if std_norm else None, self.n, mean, self.reference))
        return out


# an input up to this long is a clip (Whisper's context is 30 s): in a group it is read whole,
# so a folder of utterances gets one answer each against the folder's reference; read alone,
# a clip too short to adapt to itself is not warned about (it is the usual case), only a
# longer recording is
CLIP_SECONDS = 30.0


def not_adapted(why: str) -> str:
    """What ``adapted`` says of an input that adaptation was meant for but could not reach."""
    return f"not adapted: {why}"


def folder_of(x) -> str | None:
    """The group of an input under ``adapt="folder"``: a path's folder (None for bytes,
    open files and waves: those are read alone)."""
    return str(Path(x).absolute().parent) if isinstance(x, str | Path) else None
