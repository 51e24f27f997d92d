"""Models reading a pretrained encoder: they train and reload, draw cached augmented copies,
read a HuBERT from a local folder, and ensembles of members with different encoders."""

import json

import numpy as np
import pytest
import torch

from emovox.data.corpora import Manifest
from emovox.evaluation import evaluate
from emovox.store import checkpoint
from emovox.train import experiments, prepare
from emovox.train.loop import build_model, train

from ..configs import TINY_MODEL, _cfg, _tiny_encoder_cfg  # noqa: F401

pytestmark = pytest.mark.slow  # the file's tier (tests/README.md)


@pytest.mark.parametrize("model, finetune", [("encoder", 0), ("hybrid", 1)])
def test_encoder_models_train_and_reload(subset, tmp_path, model, finetune):
    """encoder and hybrid through the same engine with the real Whisper tiny.en encoder."""
    cfg = _cfg(
        subset,
        tmp_path,
        model=model,
        encoder="whisper-tiny",
        epochs=2,
        finetune_layers=finetune,
        encoder_layers=[1, 2, 3],
        model_config={"fusion_dim": 32},
    )
    m = train(cfg, tmp_path / model, progress=False)
    assert m["n"] > 0 and 0.0 <= m["accuracy"] <= 1.0
    tensors, meta = checkpoint.load(tmp_path / model / "checkpoints" / "model")
    assert meta["encoder"] == "whisper-tiny" and meta["finetune_layers"] == finetune
    # encoder weights are never copied in, except the fine-tuned top layers
    assert not any(k.startswith("model.encoder") for k in tensors)
    assert any(k.startswith("model.top.") for k in tensors) == (finetune > 0)
    if finetune:  # the copied top layer (state 3 = layer index 2) has moved from the encoder's
        from emovox.models.loading import load_encoder

        start = load_encoder("whisper-tiny").encoder.layers[2].state_dict()
        top = {
            k.removeprefix("model.top.0."): v
            for k, v in tensors.items()
            if k.startswith("model.top.0.")
        }
        assert top.keys() == start.keys()
        assert sum(not torch.equal(v, start[k].to(v.dtype)) for k, v in top.items()) > len(top) // 2
    again = evaluate.evaluate_run(tmp_path / model, out=tmp_path / f"{model}-eval")
    assert again["confusion"] == m["confusion"]


def test_variants_are_cached_augmented_copies_that_both_pathways_draw(
    subset, tmp_path, monkeypatch
):
    from emovox.data.clips import Variant
    from emovox.features.handcrafted import FeatureExtractor
    from emovox.models.loading import load_encoder

    # augment.enabled false: no on-the-fly augmentation; the copies use its probabilities
    noisy = {"enabled": False, "p_pitch": 0.0, "p_stretch": 0.0, "p_noise": 1.0, "p_gain": 0.0}
    cfg = _cfg(
        subset,
        tmp_path,
        model="hybrid",
        encoder="whisper-tiny",
        encoder_layers=[1, 2],
        epochs=2,
        variants=2,
        augment=noisy,
        model_config={"fusion_dim": 32},
    )
    extractor = FeatureExtractor(cfg.feature)
    encoder = load_encoder(cfg.encoder)
    model = build_model(cfg, extractor.cfg.n_features, 8, encoder)
    prep = prepare.prepare(cfg, extractor, model, encoder)
    train_ids = set(prep.split.train.tolist())
    assert set(prep.variants) == set(prep.state_variants) == train_ids
    assert not any(i in prep.variants for i in prep.split.test)  # test clips stay clean
    i = int(prep.split.train[0])
    for clean, (v1, v2) in (
        (prep.feats[i], prep.variants[i]),
        (prep.states[i], prep.state_variants[i]),
    ):
        assert v1.shape[-1] == clean.shape[-1]
        assert not np.allclose(v1, clean) and not np.allclose(v1, v2)

    # cached: a second run reads the copies back without augmenting anything
    def boom(*_):
        raise AssertionError("augmented again")

    monkeypatch.setattr(Variant, "apply", boom)
    again = prepare.prepare(cfg, extractor, model, encoder)
    assert np.array_equal(again.variants[i][1], prep.variants[i][1])
    assert np.array_equal(again.state_variants[i][1], prep.state_variants[i][1])

    # each clip is drawn as clean or one copy, the same one for both pathways
    batch = prep.split.train[:16]
    feats, states = prepare.variant_batch(batch, prep, 2, np.random.default_rng(0))
    picks = []
    for j, f, s in zip(batch, feats, states, strict=True):
        fk = next(k for k, a in enumerate([prep.feats[j], *prep.variants[j]]) if a is f)
        sk = next(k for k, a in enumerate([prep.states[j], *prep.state_variants[j]]) if a is s)
        assert fk == sk
        picks.append(fk)
    assert set(picks) == {0, 1, 2}
    m = train(cfg, tmp_path / "v", progress=False)
    assert m["n"] > 0
    with pytest.raises(ValueError, match="variants replace"):
        bad = _cfg(subset, tmp_path, variants=1, augment={"enabled": True})
        train(bad, tmp_path / "bad", progress=False)


def _tiny_hubert(folder):
    """A tiny randomly initialised HubertModel saved like a hub download."""
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(0)
    HubertModel(
        HubertConfig(
            hidden_size=32,
            num_hidden_layers=3,
            num_attention_heads=2,
            intermediate_size=64,
            conv_dim=(16, 16),
            conv_stride=(5, 4),
            conv_kernel=(10, 4),
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=2,
        )
    ).save_pretrained(folder)
    return folder


def test_hubert_encoder_from_a_local_folder_trains_frozen_and_predicts(subset, tmp_path):
    """The HuBERT path of the engine with a tiny random config of the real model class."""
    from emovox.infer import torch_engine

    hub = _tiny_hubert(tmp_path / "hubert-tiny")
    cfg = _cfg(
        subset,
        tmp_path,
        model="encoder",
        encoder=str(hub),
        encoder_layers=[1, 2],
        epochs=2,
        model_config={},
    )
    m = train(cfg, tmp_path / "hub", progress=False)
    assert m["n"] > 0 and 0.0 <= m["accuracy"] <= 1.0
    pred = torch_engine.load(tmp_path / "hub")
    clips = data_clips(subset, 2)
    p = pred.predict_waves(clips)
    assert p.shape == (2, 8) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="needs a Whisper encoder"):
        train(
            _cfg(
                subset,
                tmp_path,
                model="encoder",
                encoder=str(hub),
                encoder_layers=[1, 2],
                finetune_layers=1,
                model_config={},
            ),
            tmp_path / "ft",
            progress=False,
        )


def data_clips(subset, n):
    from emovox.data.clips import load_clips

    return load_clips(Manifest.read_tsv(subset).rows[:n]).waves


def test_ensemble_members_with_different_encoders_each_read_their_own(subset, tmp_path):
    """A Whisper tiny.en member and a HuBERT member in one ensemble: evaluation from an empty
    cache and the torch engine from waveforms run each member on its own encoder, and agree."""
    import shutil

    from emovox.data.clips import load_clips
    from emovox.infer import torch_engine

    hub = _tiny_hubert(tmp_path / "hubert-tiny")
    cfg = _tiny_encoder_cfg(
        subset,
        tmp_path,
        epochs=2,
        ensemble=2,
        model_config={},
        member_overrides=[{}, {"encoder": str(hub), "encoder_layers": [1, 2]}],
    )
    m = experiments.run(cfg, tmp_path / "mix")
    assert [
        json.loads((tmp_path / "mix" / f"member{k}" / "checkpoints" / "model.json").read_text())[
            "encoder"
        ]
        for k in (0, 1)
    ] == ["whisper-tiny", str(hub)]
    shutil.rmtree(tmp_path / "cache")  # nothing cached: every member encodes afresh
    again = evaluate.evaluate_run(tmp_path / "mix", out=tmp_path / "mix-eval")
    assert again["ensemble"]["members"] == m["ensemble"]["members"]
    assert again["confusion"] == m["confusion"]
    pred = torch_engine.load(tmp_path / "mix")
    assert set(pred.backend.encoders) == {"whisper-tiny", str(hub)}
    split = json.loads((tmp_path / "mix" / "member0" / "split.json").read_text())
    rows = [r for r in Manifest.read_tsv(subset).rows if r.path in set(split["test"])]
    clips = load_clips(rows)
    y = np.array([pred.labels.index(r.emotion) for r in clips.rows])
    acc = float((pred.predict_waves(clips.waves).argmax(1) == y).mean())
    assert acc == pytest.approx(m["accuracy"])
