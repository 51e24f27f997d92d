import torch

from emovox.models.cnn_lstm import CNNLSTM, CNNLSTMConfig, reverse_padded


def test_reverse_padded_keeps_padding():
    x = torch.arange(10.0).view(2, 5, 1)
    out = reverse_padded(x, torch.tensor([3, 5]))[..., 0]
    assert out.tolist() == [[2, 1, 0, 3, 4], [9, 8, 7, 6, 5]]


def test_padding_does_not_change_a_clip_prediction():
    torch.manual_seed(0)
    model = CNNLSTM(CNNLSTMConfig(n_features=20, n_classes=7, channels=(8, 8, 8),
                                  lstm_hidden=16)).eval()
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
