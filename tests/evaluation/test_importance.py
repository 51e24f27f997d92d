"""Permutation importance with a real (tiny) CNN-LSTM on real RAVDESS features."""

import numpy as np
import pytest
import torch

from emovox.data.clips import clean_features, load_clips
from emovox.data.labels import label_set
from emovox.evaluation import importance
from emovox.features.handcrafted import FeatureConfig, FeatureExtractor, FeatureStats
from emovox.models.cnn_lstm import CNNLSTM, CNNLSTMConfig
from emovox.models.inputs import predict_proba

pytestmark = pytest.mark.fast  # the file's tier; its slow tests say so (tests/README.md)


def test_permuted_moves_only_the_chosen_columns_from_the_donor():
    a = np.zeros((4, 3), dtype=np.float32)
    b = np.ones((2, 3), dtype=np.float32) * np.arange(3)
    out = importance.permuted([a, b], slice(1, 2), np.array([1, 0]), frame_level=True)
    assert out[0].shape == (4, 3) and np.all(out[0][:, 1] == 1.0) and np.all(out[0][:, [0, 2]] == 0)
    assert np.all(out[1][:, 1] == 0.0) and np.all(out[1][:, 2] == 2.0)
    pooled = importance.permuted(
        [np.zeros((3, 2)), np.ones((3, 2))], slice(0, 1), np.array([1, 0]), frame_level=False
    )
    assert pooled[0][0].tolist() == [1, 1] and pooled[0][1:].sum() == 0


@pytest.mark.slow
def test_a_group_the_model_cannot_see_has_zero_importance(ravdess_manifest):
    labels = label_set(7)
    rows = [r for r in ravdess_manifest.rows if r.emotion in labels][::70][:14]
    clips = load_clips(rows)
    cfg = FeatureConfig()
    raw = clean_features(clips.waves, [r.sha1 for r in clips.rows], FeatureExtractor(cfg))
    stats = FeatureStats.fit(raw)
    feats = [stats.apply(f) for f in raw]
    torch.manual_seed(0)
    model = CNNLSTM(
        CNNLSTMConfig(
            n_features=cfg.n_features, n_classes=7, channels=(8, 8, 8), lstm_hidden=8, head_hidden=8
        )
    ).eval()
    chroma = cfg.slices()["chroma"]
    with torch.no_grad():  # the first convolution ignores the chroma columns
        model.encoder.blocks[0].conv.weight[:, chroma] = 0.0
    y = np.array([labels.index(r.emotion) for r in clips.rows])

    def predict(f, s):
        return predict_proba(model, f, s, torch.device("cpu"))

    named = {f"feature:{g}": ("feats", s) for g, s in cfg.slices().items()}
    result = importance.permutation_importance(predict, feats, None, y, labels, named, repeats=2)
    assert result["drops"]["feature:chroma"]["macro_f1"] == 0.0
    assert all(v == 0.0 for v in result["drops"]["feature:chroma"]["recall"].values())
    moved = importance.permuted(
        feats, cfg.slices()["mfcc"], np.roll(np.arange(len(feats)), 1), True
    )
    assert not np.allclose(predict(moved, None), predict(feats, None))
    assert set(result["drops"]) == set(named)
    pairs = importance.confused_pairs(result["baseline"]["confusion"], labels)
    assert all(p["count"] > 0 for p in pairs)
    assert pairs == sorted(pairs, key=lambda p: -p["count"])
