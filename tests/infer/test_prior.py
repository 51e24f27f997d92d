"""Label-shift correction: a group's class prior estimated from its own answers, shrunk toward
the training prior, the answers re-weighted to it, and every way it falls back to plain."""

import numpy as np
import pytest

from emovox.infer import prior

pytestmark = pytest.mark.fast  # the file's tier; its slow tests say so (tests/README.md)

LABELS = ("angry", "happy", "neutral", "sad")
# a model that hears anger in much of what it never heard: column j, its answer for class j
BIASED = np.array(
    [
        [0.80, 0.35, 0.40, 0.30],  # answered angry
        [0.10, 0.45, 0.10, 0.05],
        [0.05, 0.10, 0.35, 0.15],
        [0.05, 0.10, 0.15, 0.50],
    ]
)


def answers(q: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n answers of a group whose true prior is ``q``, each its class's column with noise,
    and the truth."""
    rng = np.random.default_rng(seed)
    y = rng.choice(len(q), n, p=q)
    p = BIASED[:, y].T * rng.uniform(0.6, 1.4, (n, len(q)))
    return (p / p.sum(1, keepdims=True)).astype(np.float32), y


def recall(probs: np.ndarray, y: np.ndarray) -> float:
    pred = probs.argmax(1)
    return float(np.mean([(pred[y == c] == c).mean() for c in set(y.tolist())]))


def test_the_estimate_lies_between_the_mean_answer_and_the_training_prior():
    probs, _ = answers(np.full(4, 0.25), 400)
    mu, uniform = probs.mean(0), np.full(4, 0.25)
    assert np.allclose(prior.estimate(probs, uniform, 0.0), mu / mu.sum(), atol=1e-6)
    assert np.allclose(prior.estimate(probs, uniform, 1.0), uniform)
    half = prior.estimate(probs, uniform, prior.SHRINK)
    assert abs(half.sum() - 1) < 1e-9
    assert np.all((half - uniform) * (mu - uniform) >= 0)  # toward the mean answer ...
    assert np.all(np.abs(half - uniform) <= np.abs(mu - uniform))  # ... not past it


def test_the_correction_lifts_recall_where_the_model_is_biased():
    probs, y = answers(np.full(4, 0.25), 400)
    shift = prior.correct(probs, LABELS)
    assert shift.applied and shift.reason is None and set(shift.prior) == set(LABELS)
    assert shift.prior["angry"] == max(shift.prior.values())  # the estimate keeps some bias
    assert recall(shift.probabilities, y) > recall(probs, y) + 0.05
    assert np.allclose(shift.probabilities.sum(1), 1, atol=1e-5)


@pytest.mark.parametrize("n", [prior.MIN_CLIPS - 1, prior.MIN_CLIPS, prior.MIN_CLIPS + 1])
def test_a_group_needs_min_clips(n):
    probs, _ = answers(np.full(4, 0.25), n)
    shift = prior.correct(probs, LABELS)
    assert shift.applied == (n >= prior.MIN_CLIPS)
    if n < prior.MIN_CLIPS:
        assert shift.prior is None and shift.probabilities is probs
        assert shift.reason == f"{n} clip(s); estimating a prior needs {prior.MIN_CLIPS}"


@pytest.mark.parametrize("delta", [-0.01, 0.0, 0.01])
def test_answers_of_mostly_one_emotion_read_plain(delta):
    share = prior.MAX_SHARE + delta
    probs = np.tile([[share, (1 - share) / 3, (1 - share) / 3, (1 - share) / 3]], (30, 1))
    shift = prior.correct(probs, LABELS)
    assert shift.applied == (delta <= 0)
    if delta > 0:
        assert shift.reason.startswith(f"the answers are {share:.0%} angry: a group of mostly")
        assert shift.probabilities is probs and shift.prior is None


def test_answers_that_are_not_numbers_read_plain():
    probs, _ = answers(np.full(4, 0.25), 30)
    probs[3, 1] = np.nan
    shift = prior.correct(probs, LABELS)
    assert shift.reason == "the answers are not finite numbers" and shift.probabilities is probs
