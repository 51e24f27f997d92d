import pytest
import torch

from emovox.models.cnn_lstm import CNNLSTM, CNNLSTMConfig, FeatureMasking, reverse_padded

pytestmark = pytest.mark.fast  # the file's tier (tests/README.md)


def test_reverse_padded_keeps_padding():
    x = torch.arange(10.0).view(2, 5, 1)
    out = reverse_padded(x, torch.tensor([3, 5]))[..., 0]
    assert out.tolist() == [[2, 1, 0, 3, 4], [9, 8, 7, 6, 5]]


@pytest.mark.parametrize("pooling", ["mean", "attentive"])
def test_padding_does_not_change_a_clip_prediction(pooling):
    torch.manual_seed(0)
    model = CNNLSTM(
        CNNLSTMConfig(
            n_features=20, n_classes=7, channels=(8, 8, 8), lstm_hidden=16, pooling=pooling
        )
    ).eval()
    a, b = torch.randn(1, 53, 20), torch.randn(1, 90, 20)
    alone = model(a, torch.ones(1, 53, dtype=torch.bool))
    x = torch.zeros(2, 90, 20)
    x[0, :53], x[1] = a[0], b[0]
    mask = torch.zeros(2, 90, dtype=torch.bool)
    mask[0, :53], mask[1] = True, True
    batched = model(x, mask)
    assert batched.shape == (2, 7)
    assert torch.allclose(alone[0], batched[0], atol=1e-5)


def test_architecture_follows_reference_design():
    model = CNNLSTM(CNNLSTMConfig())
    convs = [b.conv.out_channels for b in model.encoder.blocks]
    assert convs == [32, 64, 128]
    assert all(isinstance(b.bn, torch.nn.BatchNorm1d) for b in model.encoder.blocks)
    assert len(model.encoder.lstm.fwd) == 2 and model.encoder.lstm.fwd[0].hidden_size == 128
    assert set(model.param_groups()) == {"cnn_lstm", "head"}


def test_utterance_norm_ignores_per_clip_gain_and_offset():
    from emovox.models.cnn_lstm import utterance_standardise

    torch.manual_seed(1)
    x = torch.randn(1, 40, 6)
    mask = torch.ones(1, 40, dtype=torch.bool)
    a = utterance_standardise(x, mask)
    b = utterance_standardise(3.0 * x + 5.0, mask)
    assert torch.allclose(a, b, atol=1e-4)
    assert torch.allclose(a.mean(dim=1), torch.zeros(1, 6), atol=1e-5)
    padded = torch.cat([x, torch.zeros(1, 10, 6)], dim=1)
    m2 = torch.cat([mask, torch.zeros(1, 10, dtype=torch.bool)], dim=1)
    out = utterance_standardise(padded, m2)
    assert torch.allclose(out[:, :40], a, atol=1e-5) and torch.all(out[:, 40:] == 0)


def test_feature_masking_zeroes_spans_inside_each_clip_in_training_only():
    torch.manual_seed(0)
    m = FeatureMasking(time_masks=2, time_width=5, feature_masks=1, feature_width=3)
    x = torch.randn(6, 40, 20) + 10.0  # no value is 0 before masking
    mask = torch.ones(6, 40, dtype=torch.bool)
    mask[0, 12:] = False  # a short clip: its time spans stay inside its 12 frames
    m.train()
    y = m(x, mask)
    zero = y == 0
    assert zero.any() and not zero.all()
    zero_frames = zero.all(dim=2)  # whole frames zeroed by a time span
    assert not zero_frames[0, 12:].any()
    assert zero_frames.sum(dim=1).max() <= 10  # 2 spans of at most 5 frames
    zero_feats = zero.all(dim=1)  # whole features zeroed by a band
    assert zero_feats.sum(dim=1).max() <= 3
    assert torch.equal(y[~zero], x[~zero])  # nothing else changes
    m.eval()
    assert torch.equal(m(x, mask), x)


def test_attentive_pooling_weights_frames_unlike_the_mean():
    torch.manual_seed(0)
    cfg = CNNLSTMConfig(n_features=20, channels=(8, 8, 8), lstm_hidden=16, pooling="attentive")
    model = CNNLSTM(cfg).eval()
    assert model.encoder.out_dim == 4 * 16
    x, mask = torch.randn(3, 40, 20), torch.ones(3, 40, dtype=torch.bool)
    frames = model.encoder.lstm(torch.randn(3, 10, 8), torch.full((3,), 10))  # (b, t, 2h)
    pooled = model.encoder.pool(frames, torch.ones(3, 10, dtype=torch.bool))
    mean = frames.mean(dim=1)
    assert not torch.allclose(pooled[:, :32], mean, atol=1e-4)  # learned weights, not uniform
    std = frames.std(dim=1, unbiased=False)
    assert torch.all(pooled[:, 32:] > 0) and pooled[:, 32:].shape == std.shape
    assert model(x, mask).shape == (3, 7)
    with pytest.raises(ValueError, match="pooling"):
        CNNLSTM(CNNLSTMConfig(pooling="max"))
