import numpy as np
import pytest

from emovox.evaluation.metrics import expected_calibration_error
from emovox.models.ensemble import (
    apply_temperature,
    fit_temperature,
    hard_vote,
    head_weights,
    soft_vote,
)

pytestmark = pytest.mark.fast  # the file's tier (tests/README.md)


def test_soft_and_hard_vote():
    a = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3]])
    b = np.array([[0.1, 0.8, 0.1], [0.1, 0.6, 0.3]])
    c = np.array([[0.5, 0.4, 0.1], [0.4, 0.1, 0.5]])
    assert np.allclose(soft_vote([a, b, c]), (a + b + c) / 3)
    assert hard_vote([a, b, c]).tolist() == [0, 1]  # two votes for class 0; two for class 1
    assert np.allclose(soft_vote([a, b, c], [0.5, 0.5, 0.0]), (a + b) / 2)


def test_plain_heads_answer_alone_and_both_kinds_answer_adapted_speech():
    """Read alone only the plain heads vote; adapted to the voice, each kind weighs half."""
    assert head_weights([False, False, True], adapted=False).tolist() == [0.5, 0.5, 0.0]
    assert head_weights([False, False, True], adapted=True).tolist() == [0.25, 0.25, 0.5]
    assert head_weights([False, False], adapted=True).tolist() == [0.5, 0.5]
    assert head_weights([True, True], adapted=False).tolist() == [0.5, 0.5]  # no plain heads


def test_hard_vote_tie_goes_to_larger_summed_probability():
    a = np.array([[0.9, 0.1, 0.0]])
    b = np.array([[0.3, 0.6, 0.1]])
    assert hard_vote([a, b]).tolist() == [0]  # 1 vote each; class 0 sums 1.2 > 0.7
    c = np.array([[0.4, 0.55, 0.05]])
    assert hard_vote([a, b, c]).tolist() == [1]  # majority beats probability


def test_temperature_calibrates_overconfident_probabilities():
    rng = np.random.default_rng(0)
    n, k = 2000, 5
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), y] += 1.0  # right 1/2 of the time or so
    over = np.exp(4 * logits)
    over /= over.sum(axis=1, keepdims=True)  # the same ranking, far too confident
    t = fit_temperature(over, y)
    assert 3.0 < t < 5.5
    fixed = apply_temperature(over, t)
    assert np.array_equal(fixed.argmax(1), over.argmax(1))
    assert expected_calibration_error(fixed, y) < 0.5 * expected_calibration_error(over, y)
