"""Combine ensemble members' probabilities (soft and hard voting) and calibrate them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def soft_vote(probs: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """Mean of the members' class probabilities: (members of (n, classes)) -> (n, classes);
    ``weights``: each member's share (summing to 1), equal when None."""
    if weights is None:
        return np.mean(np.stack(probs), axis=0)
    return np.tensordot(np.asarray(weights, dtype=np.float64), np.stack(probs), 1)


def head_weights(standardising: Sequence[bool], adapted: bool) -> np.ndarray:
    """Each member's share of the vote. A model may hold two kinds of head: plain ones, which
    answer any clip, and speaker-normalised ones, which read statistics standardised with the
    speaker's own and so answer only speech adapted to its voice. Read alone, only the plain
    heads vote (a model of normalised heads only: all of them; its callers refuse unadapted
    speech first); adapted, both kinds vote, each kind weighing half, so that three plain
    heads do not outvote one normalised head."""
    norm = np.asarray(standardising, dtype=bool)
    kinds = [k for k in (~norm, norm) if k.any()]
    if not adapted:
        kinds = kinds[:1]
    w = np.zeros(len(norm))
    for k in kinds:
        w[k] = 1.0 / (k.sum() * len(kinds))
    return w


def voting(standardising: Sequence[bool], adapted: bool) -> list[tuple[int, float]]:
    """(member index, share) of each member that votes (:func:`head_weights` above 0): what
    both engines loop over, so neither runs a head whose vote is not counted."""
    return [(k, float(w)) for k, w in enumerate(head_weights(standardising, adapted)) if w > 0]


def hard_vote(probs: Sequence[np.ndarray]) -> np.ndarray:
    """Majority of the members' predicted classes, (n,) labels.

    A tie between classes with equally many votes goes to the tied class with the largest
    summed probability over members.
    """
    stack = np.stack(probs)  # (members, n, classes)
    votes = np.zeros(stack.shape[1:], dtype=np.int64)
    for member in stack:
        votes[np.arange(stack.shape[1]), member.argmax(axis=1)] += 1
    tied = votes == votes.max(axis=1, keepdims=True)
    return np.where(tied, stack.sum(axis=0), -np.inf).argmax(axis=1)


def fit_temperature(probs: np.ndarray, y: np.ndarray, steps: int = 200) -> float:
    """The temperature T > 0 minimising the negative log-likelihood of softmax(log p / T).

    Fitted on the validation side; T > 1 softens over-confident probabilities.
    """
    import torch  # here: the voting functions stay usable without torch (emovox.infer.numpy_engine)

    logp = torch.log(torch.as_tensor(probs, dtype=torch.float64).clamp(min=1e-12))
    target = torch.as_tensor(y, dtype=torch.long)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.5, max_iter=steps)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(logp / log_t.exp(), target)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T), row-wise."""
    logp = np.log(np.clip(probs, 1e-12, None)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    e = np.exp(logp)
    return e / e.sum(axis=1, keepdims=True)
