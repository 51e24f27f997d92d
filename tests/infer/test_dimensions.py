"""Arousal and valence: trained as auxiliary heads from the categorical labels, answered by
both engines alike, and what a clip's and a recording's answers report."""

from pathlib import Path

import numpy as np
import pytest

from emovox import load_model
from emovox.data.clips import load_clips
from emovox.data.corpora import Manifest
from emovox.data.labels import AROUSAL, axes, dimensions
from emovox.infer import numpy_engine, torch_engine
from emovox.store import runs
from emovox.train import experiments

from ..configs import _tiny_encoder_cfg

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dims_model(subset, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dims")
    cfg = _tiny_encoder_cfg(
        subset, tmp, epochs=12, ensemble=2, model_config={"dimensions": 0.5}, level_db=-25.0
    )
    experiments.run(cfg, tmp / "run")
    return runs.export(tmp / "run", tmp / "model")


def test_the_heads_learn_arousal_and_both_engines_answer_alike(dims_model, subset):
    rows = Manifest.read_tsv(subset).rows
    waves = load_clips(rows).waves
    pred, fast = torch_engine.load(dims_model), numpy_engine.load(dims_model)
    assert fast is not None
    a = pred.dimension_scores(pred.member_inputs(waves))
    b = fast.dimension_scores(fast.member_inputs(waves))
    assert a.shape == (len(rows), 2) and np.abs(a).max() <= 1.0
    assert np.abs(a - b).max() < 1e-4
    # the arousal head learned the axis on the clips it was trained from (most of the subset)
    axis = np.array([AROUSAL[r.emotion] for r in rows])
    assert a[axis > 0, 0].mean() > a[axis < 0, 0].mean() + 0.2
    # a model without the heads has none; the analyzer then places the probabilities
    plain = torch_engine.load(
        Path(__file__).parents[1] / "fixtures" / "model_0_3"
    )  # 0.3's, no heads
    assert plain.dimension_scores(plain.member_inputs(waves[:2])) is None


def test_answers_carry_the_heads_arousal_not_the_probabilities_place(dims_model, subset):
    row = Manifest.read_tsv(subset).rows[0]
    model = load_model(dims_model)
    clip = model.predict(row.path)
    derived = dimensions(clip.probabilities)
    pred = torch_engine.load(dims_model)
    wave = load_clips([row]).waves[0]
    heads = pred.dimension_scores(pred.member_inputs([wave]))[0]
    assert (clip.arousal, clip.valence) == pytest.approx(tuple(heads), abs=2e-3)
    assert abs(clip.arousal - derived["arousal"]) > 1e-3  # not the probabilities' place
    # a recording: each segment's arousal is the heads' curve over it, the overall its mean
    long = np.concatenate([wave, np.zeros(8000, np.float32)] * 8)
    rec = model.predict(long, sr=16000)
    assert rec.segments and all(-1 <= s.arousal <= 1 for s in rec.segments)
    probs = np.array([[s.probabilities[k] for k in model.labels] for s in rec.segments])
    placed = probs @ axes(model.labels)
    assert np.abs([s.arousal for s in rec.segments] - placed[:, 0]).max() > 1e-3
