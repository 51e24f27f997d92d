"""The reference design's CNN-LSTM pathway over frame-level handcrafted features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from emovox.features.pooling import AttentiveStatsPool, masked_mean
from emovox.models.configs import CNNLSTMConfig

__all__ = ["CNNLSTM", "CNNLSTMConfig", "CNNLSTMEncoder"]


class ConvBlock(nn.Module):
    """Conv1d over time -> batch norm -> ReLU -> max-pool -> dropout."""

    def __init__(self, c_in: int, c_out: int, kernel: int, pool: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2)
        self.bn = nn.BatchNorm1d(c_out)
        self.pool = pool
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # x: (batch, channels, time); mask: (batch, time)
        x = F.relu(self.bn(self.conv(x))) * mask[:, None, :]
        if self.pool > 1:
            x = F.max_pool1d(x, self.pool, ceil_mode=True)
            mask = F.max_pool1d(mask[:, None, :].float(), self.pool, ceil_mode=True)[:, 0] > 0
        return self.drop(x), mask


def utterance_standardise(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance per clip and feature over valid frames (padding stays 0)."""
    m = mask[:, :, None].to(x.dtype)
    n = m.sum(dim=1, keepdim=True).clamp(min=1.0)
    mean = (x * m).sum(dim=1, keepdim=True) / n
    var = (((x - mean) * m) ** 2).sum(dim=1, keepdim=True) / n
    return (x - mean) / torch.sqrt(var + 1e-5) * m


class FeatureMasking(nn.Module):
    """SpecAugment-style masking while training: random time spans and feature bands of each
    clip's standardised frames are set to 0 (the training mean), so no single stretch or
    feature group carries a clip. The identity in eval mode."""

    def __init__(
        self, time_masks: int, time_width: int, feature_masks: int, feature_width: int
    ) -> None:
        super().__init__()
        self.time = (time_masks, time_width)
        self.feature = (feature_masks, feature_width)

    @staticmethod
    def _spans(n: int, width: int, size: torch.Tensor, total: int) -> torch.Tensor:
        """(b, total) bool: n random spans of 0..width positions inside each row's size."""
        b = size.shape[0]
        pos = torch.arange(total, device=size.device)[None, :]
        out = torch.zeros(b, total, dtype=torch.bool, device=size.device)
        for _ in range(n):
            w = torch.randint(0, width + 1, (b,), device=size.device)
            start = (torch.rand(b, device=size.device) * (size - w).clamp(min=0)).long()
            out |= (pos >= start[:, None]) & (pos < (start + w)[:, None])
        return out

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # x: (batch, time, feat); mask: (batch, time)
        if not self.training or not (self.time[0] or self.feature[0]):
            return x
        b, t, f = x.shape
        drop_t = self._spans(*self.time, mask.sum(dim=1), t)  # (b, t)
        drop_f = self._spans(*self.feature, torch.full((b,), f, device=x.device), f)  # (b, f)
        return x.masked_fill(drop_t[:, :, None] | drop_f[:, None, :], 0.0)


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence within its own length; padding stays where it is. x: (b, t, d)."""
    t = torch.arange(x.shape[1], device=x.device)[None, :]
    idx = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    return x.gather(1, idx[:, :, None].expand_as(x))


class BiLSTM(nn.Module):
    """Stacked bidirectional LSTM over padded batches, exact per clip without packing.

    The backward direction reads each clip reversed within its own length, so padding never
    enters a valid step; this is about twice as fast as packed sequences on CPU.
    """

    def __init__(self, d_in: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        dims = [d_in] + [2 * hidden] * (layers - 1)
        self.fwd = nn.ModuleList(nn.LSTM(d, hidden, batch_first=True) for d in dims)
        self.bwd = nn.ModuleList(nn.LSTM(d, hidden, batch_first=True) for d in dims)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # x: (batch, time, d_in) -> (batch, time, 2 * hidden)
        for i, (f, b) in enumerate(zip(self.fwd, self.bwd, strict=True)):
            if i:
                x = self.drop(x)
            back = reverse_padded(b(reverse_padded(x, lengths))[0], lengths)
            x = torch.cat([f(x)[0], back], dim=2)
        return x


class CNNLSTMEncoder(nn.Module):
    """Features (batch, time, n_features) -> one vector per clip (batch, 2 * lstm_hidden)."""

    def __init__(self, cfg: CNNLSTMConfig) -> None:
        super().__init__()
        chans = (cfg.n_features, *cfg.channels)
        self.blocks = nn.ModuleList(
            ConvBlock(a, b, cfg.kernel_size, cfg.pool, cfg.dropout)
            for a, b in zip(chans[:-1], chans[1:], strict=True)
        )
        self.lstm = BiLSTM(cfg.channels[-1], cfg.lstm_hidden, cfg.lstm_layers, cfg.dropout)
        if cfg.pooling not in ("mean", "attentive"):
            raise ValueError(f"pooling must be 'mean' or 'attentive', not {cfg.pooling!r}")
        d = 2 * cfg.lstm_hidden
        self.pool = AttentiveStatsPool(d) if cfg.pooling == "attentive" else None
        self.out_dim = 2 * d if self.pool is not None else d
        self.utterance_norm = cfg.utterance_norm
        self.masking = FeatureMasking(
            cfg.time_masks, cfg.time_mask_width, cfg.feature_masks, cfg.feature_mask_width
        )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.utterance_norm:
            x = utterance_standardise(x, mask)
        x = self.masking(x, mask)  # (batch, time, feat), training only
        h = x.transpose(1, 2)  # (batch, feat, time)
        for block in self.blocks:
            h, mask = block(h, mask)
        h = h.transpose(1, 2)  # (batch, time', channels)
        out = self.lstm(h, mask.sum(dim=1))  # (batch, time', 2 * hidden)
        if self.pool is not None:
            return self.pool(out, mask)  # (batch, 4 * hidden)
        return masked_mean(out, mask)  # (batch, 2 * hidden)


class CNNLSTM(nn.Module):
    """CNN-LSTM encoder + classifier head: logits (batch, n_classes)."""

    def __init__(self, cfg: CNNLSTMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = CNNLSTMEncoder(cfg)
        self.head = nn.Sequential(
            nn.Linear(self.encoder.out_dim, cfg.head_hidden),
            nn.ReLU(),
            nn.Dropout(cfg.dropout),
            nn.Linear(cfg.head_hidden, cfg.n_classes),
        )

    # the forward contract (emovox.models.kind.Model): what it reads, by name
    inputs = ("feats", "feat_mask")
    predicts_dimensions = False

    def forward(self, feats: torch.Tensor, feat_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(feats, feat_mask))

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by component, for per-component learning rates."""
        return {"cnn_lstm": list(self.encoder.parameters()), "head": list(self.head.parameters())}
