"""Label-shift correction: a group of clips (a folder, a column's value, a request's uploads)
has its own mix of emotions, unlike the balanced mix the model learned from. Its class prior is
estimated from the model's own answers on it, shrunk halfway toward the training prior, and
the answers are re-weighted to it.

Why this estimator (benchmarks/label_shift.py, folders of corpora the model never heard,
balanced and 70% one emotion): the mean answer alone (EM, Saerens et al. 2002) takes the
model's off-corpus bias (anger heard everywhere) for the folder's prior and amplifies it;
reading the answers through confusion matrices (BBSE, Lipton et al. 2018; RLLS) needs the
confusions to carry from corpus to corpus, and off-corpus they do not (one corpus's neutral is
heard as angry, another's happy as surprise); assuming the folder balanced (the mean answer's
full inverse) fails on skewed folders. Halfway between the mean answer and the training prior
is the one that beat the plain answers on every mix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# a group needs this many clips for its prior to be estimated; fewer read plain
MIN_CLIPS = 20
# the mean answer's largest share above which the group reads plain: a folder of mostly one
# emotion cannot be told apart from a model's bias toward it, and re-weighting would take
# answers away from that emotion
MAX_SHARE = 0.7
# how far the estimate is pulled from the group's mean answer toward the training prior
# (geometrically: 0 is the mean answer itself, 1 the training prior)
SHRINK = 0.5


@dataclass(frozen=True)
class Shift:
    """A group's estimated class prior and its corrected answers, or why it reads plain."""

    prior: dict[str, float] | None  # None: not estimated (``reason`` says why)
    probabilities: np.ndarray  # (n, classes): corrected, or the answers as they were
    reason: str | None = None  # why the answers were left plain

    @property
    def applied(self) -> bool:
        return self.reason is None


def estimate(probs: np.ndarray, train_prior: np.ndarray, shrink: float = SHRINK) -> np.ndarray:
    """The class prior of a group whose answers are ``probs`` (n, classes): their mean,
    pulled toward ``train_prior`` by ``shrink`` (geometrically, then normalised)."""
    mu = np.maximum(probs.mean(0, dtype=np.float64), 1e-9)
    q = mu ** (1 - shrink) * np.maximum(train_prior, 1e-9) ** shrink
    return q / q.sum()


def reweight(probs: np.ndarray, q: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Answers moved from the ``source`` prior they were made under to the prior ``q``:
    p'(y|x) proportional to p(y|x) q(y) / source(y)."""
    w = q / np.maximum(source, 1e-9)
    out = probs * w[None].astype(probs.dtype)
    return out / np.maximum(out.sum(1, keepdims=True), 1e-12)


def correct(
    probs: np.ndarray, labels: tuple[str, ...], shrink: float = SHRINK, unit: str = "clip"
) -> Shift:
    """A group's answers (one per ``unit``: a clip, or a recording's window) corrected to its
    estimated prior, or left plain with the reason (:func:`why_plain`). The answers are taken
    as made under the group's mean answer, the prior the model's own answers imply for it."""
    why = why_plain(probs, labels, unit)
    if why is not None:
        return Shift(None, probs, why)
    k = probs.shape[1]
    q = estimate(probs, np.full(k, 1 / k), shrink)
    out = reweight(probs, q, probs.mean(0, dtype=np.float64)).astype(probs.dtype)
    return Shift({lab: round(float(v), 4) for lab, v in zip(labels, q, strict=True)}, out)


def why_plain(probs: np.ndarray, labels: tuple[str, ...], unit: str = "clip") -> str | None:
    """Why a group's answers ``probs`` are read plain: too few of them, answers that are not
    numbers, or mostly one emotion; None: correct them."""
    n = len(probs)
    if n < MIN_CLIPS:
        return f"{n} {unit}(s); estimating a prior needs {MIN_CLIPS}"
    if not np.isfinite(probs).all():
        return "the answers are not finite numbers"
    mu = probs.mean(0, dtype=np.float64)
    top = int(mu.argmax())
    if mu[top] > MAX_SHARE:
        return (
            f"the answers are {mu[top]:.0%} {labels[top]}: a group of mostly one emotion "
            "cannot be told from the model's bias toward it"
        )
    return None
