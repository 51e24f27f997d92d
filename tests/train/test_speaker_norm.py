"""Speaker normalisation: each speaker standardised by their own clips in training, and the
engine's enrollment at prediction."""

import numpy as np
import pytest

from emovox.data.corpora import Manifest
from emovox.store import checkpoint
from emovox.train import prepare
from emovox.train.loop import build_model, train

from ..configs import TINY_MODEL, _cfg, _tiny_encoder_cfg  # noqa: F401

pytestmark = pytest.mark.slow  # the file's tier (tests/README.md)


def test_speaker_norm_standardises_each_speaker_and_predictor_needs_enrollment(subset, tmp_path):
    from emovox.data.clips import load_clips, speaker_standardise
    from emovox.infer import torch_engine

    arrays = [np.full(4, v, dtype=np.float32) + np.arange(4) for v in (1.0, 3.0, 10.0, 14.0)]
    out = speaker_standardise(arrays, ["a", "a", "b", "b"], enroll=-1)
    assert np.allclose(out[0], -1.0) and np.allclose(out[1], 1.0) and np.allclose(out[3], 1.0)
    cfg = _cfg(
        subset,
        tmp_path,
        model="encoder",
        encoder="whisper-tiny",
        encoder_layers=[1, 2],
        epochs=2,
        speaker_norm=4,
        model_config={},
        select="last",
    )
    m = train(cfg, tmp_path / "sn", progress=False)
    assert m["n"] > 0
    _, meta = checkpoint.load(tmp_path / "sn" / "checkpoints" / "model")
    assert meta["epoch"] == 1  # select: last keeps the final epoch whatever validation says
    pred = torch_engine.load(tmp_path / "sn")
    assert pred.backend.metas[0]["speaker_norm"] == 4
    clip = load_clips(Manifest.read_tsv(subset).rows[:3]).waves
    with pytest.raises(ValueError, match="enrollment"):
        pred.predict_waves(clip[:1])
    p = pred.predict_waves(clip[:1], enrollment=clip)
    assert p.shape == (1, 8) and np.isclose(p.sum(), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="speaker_norm needs"):
        train(_cfg(subset, tmp_path, speaker_norm=4), tmp_path / "bad", progress=False)


def test_speaker_norm_standardises_copies_with_the_speakers_clean_statistics(subset, tmp_path):
    """With speaker_norm, a training clip's copies go through its speaker's clean statistics
    (what is left of a recording condition after speaker normalisation is what the head
    learns), and each training speaker's clean statistics come out centred."""
    from emovox.data.clips import mean_std
    from emovox.features.handcrafted import FeatureExtractor
    from emovox.models.loading import load_encoder

    noisy = {"enabled": False, "p_pitch": 0.0, "p_stretch": 0.0, "p_noise": 1.0, "p_gain": 0.0}
    cfg = _tiny_encoder_cfg(subset, tmp_path, encoder_layers=[1, 2], variants=1, augment=noisy)
    extractor = FeatureExtractor(cfg.feature)
    encoder = load_encoder(cfg.encoder)
    model = build_model(cfg, extractor.cfg.n_features, 8, encoder)
    raw = prepare.prepare(cfg, extractor, model, encoder)
    normed = prepare.prepare(cfg.replace(speaker_norm=4), extractor, model, encoder)
    speaker = raw.manifest.rows[int(raw.split.train[0])].speaker
    ids = [int(i) for i in raw.split.train if raw.manifest.rows[i].speaker == speaker]
    mean, std = mean_std(np.stack([raw.states[i] for i in ids]))
    assert np.allclose(np.mean([normed.states[i] for i in ids], axis=0), 0.0, atol=1e-4)
    for i in ids:
        expected = (raw.state_variants[i][0] - mean) / std
        assert np.allclose(normed.state_variants[i][0], expected, atol=1e-4)
        assert not np.allclose(normed.state_variants[i][0], normed.states[i], atol=1e-2)
