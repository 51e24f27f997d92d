import copy

import pytest
import torch

from emovox.models.cnn_lstm import CNNLSTMConfig
from emovox.models.encoders import WhisperFrames
from emovox.models.hybrid import (
    EncoderHeadConfig,
    HybridConfig,
    HybridModel,
    layer_stats,
    split_encoder,
)
from emovox.models.whisper import WhisperConfig, WhisperEncoder

pytestmark = pytest.mark.fast  # the file's tier (tests/README.md)


def frozen_states(enc, mel, mask, split):
    """What the cache stores: hidden states 0..split of the frozen encoder, no gradients."""
    with torch.no_grad():
        return enc(mel, mask, upto=split)


def _encoder():
    torch.manual_seed(0)
    cfg = WhisperConfig(d_model=32, n_layers=3, n_heads=2, ffn_dim=64)
    return WhisperFrames(WhisperEncoder(cfg).eval())


def _cfg(**kw):
    kw.setdefault(
        "enc", EncoderHeadConfig(d_model=32, layers=(1, 2, 3), proj_dim=16, pool="attentive")
    )
    return HybridConfig(
        n_classes=7,
        cnn=CNNLSTMConfig(n_features=10, channels=(8, 8, 8), lstm_hidden=8, n_classes=7),
        fusion_dim=16,
        fusion_heads=2,
        **kw,
    )


def _batch():
    torch.manual_seed(1)
    mel = torch.randn(2, 80, 60)
    mask = torch.ones(2, 60, dtype=torch.bool)
    mask[0, 40:] = False
    feats = torch.randn(2, 60, 10)
    feats[0, 40:] = 0.0  # padded frames are zero, as data.collate makes them
    return mel, mask, feats, mask.clone()


def test_cached_lower_states_plus_top_layers_equal_full_forward():
    enc = _encoder()
    mel, mask, _, _ = _batch()
    with torch.no_grad():
        full, smask = enc(mel, mask)
    split, top, norm = split_encoder(enc, finetune_layers=2)
    assert split == 1
    cached, cmask = frozen_states(enc, mel, mask, split)
    model = HybridModel(_cfg(use_cnn=False), top, norm).eval()
    with torch.no_grad():
        rebuilt = model.run_top(cached, cmask)
    assert len(rebuilt) == len(full) == 4
    for a, b in zip(full, rebuilt, strict=True):
        assert torch.allclose(a[smask], b[smask], atol=1e-5)


def test_frozen_encoder_stays_bit_identical_while_top_layers_train():
    enc = _encoder()
    before = copy.deepcopy(enc.state_dict())
    split, top, norm = split_encoder(enc, finetune_layers=1)
    model = HybridModel(_cfg(), top, norm)
    top_before = copy.deepcopy(model.top.state_dict())
    opt = torch.optim.AdamW([{"params": p, "lr": 1e-2} for p in model.param_groups().values()])
    mel, mask, feats, fmask = _batch()
    for _ in range(3):
        states, smask = frozen_states(enc, mel, mask, split)
        loss = torch.nn.functional.cross_entropy(
            model(feats, fmask, states, smask), torch.tensor([1, 4])
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = enc.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert any(not torch.equal(top_before[k], v) for k, v in model.top.state_dict().items())
    assert set(model.param_groups()) == {"encoder", "cnn_lstm", "encoder_head", "head"}


def test_top_layers_train_when_the_encoder_was_loaded_frozen():
    # load_encoder turns requires_grad off; the copied top layers must still be trainable
    enc = _encoder().requires_grad_(False)
    _, top, norm = split_encoder(enc, finetune_layers=2)
    assert all(p.requires_grad for m in (top, norm) if m is not None for p in m.parameters())
    assert not any(p.requires_grad for p in enc.parameters())


def test_each_pathway_alone_and_padding_invariance():
    enc = _encoder()
    mel, mask, feats, fmask = _batch()
    states, smask = frozen_states(enc, mel, mask, 3)
    for kw in ({"use_cnn": False}, {"use_enc": False}, {}):
        model = HybridModel(_cfg(**kw)).eval()
        with torch.no_grad():
            both = model(feats, fmask, states, smask)
            alone_states, alone_mask = frozen_states(enc, mel[:1, :, :40], mask[:1, :40], 3)
            alone = model(feats[:1, :40], fmask[:1, :40], alone_states, alone_mask)
        assert both.shape == (2, 7)
        assert torch.allclose(both[0], alone[0], atol=1e-4), kw


def test_config_roundtrip():
    cfg = _cfg(use_cnn=False)
    assert HybridConfig.from_dict(cfg.to_dict()) == cfg


def test_meanstd_reads_cached_statistics_or_frames_alike():
    """Frozen encoder + meanstd pooling: the per-layer statistics cached once per clip give
    the same logits as the frames they come from, alone or in a padded batch."""
    enc = _encoder()
    mel, mask, _, _ = _batch()
    with torch.no_grad():
        states, smask = enc(mel, mask)
        pooled = layer_stats(states, smask)  # (2, 4, 64): what data.encoder_pooled caches
        alone_states, alone_mask = enc(mel[:1, :, :40], mask[:1, :40])
        alone = layer_stats(alone_states, alone_mask)
    assert pooled.shape == (2, 4, 64)
    assert torch.allclose(pooled[0], alone[0], atol=1e-4)
    model = HybridModel(
        _cfg(
            use_cnn=False,
            enc=EncoderHeadConfig(d_model=32, layers=(1, 3), pool="meanstd", proj_dim=16),
        )
    )
    model.enc.fit_norm(pooled[:, [1, 3]])
    assert torch.allclose(model.enc.norm_mean, pooled[:, [1, 3]].flatten(1).mean(0))
    model.eval()
    with torch.no_grad():
        from_frames = model(None, None, states, smask)
        from_cache = model(None, None, pooled=pooled[:, [1, 3]])
    assert from_frames.shape == (2, 7) and model.fusion is None
    assert torch.allclose(from_frames, from_cache, atol=1e-5)
