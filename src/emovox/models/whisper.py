"""Whisper's audio encoder in plain torch, with ``transformers``' parameter names.

Why our own: importing ``transformers`` costs about 3 s on 2 CPU cores, which would triple a
one-clip prediction's cold start, while the encoder itself is a conv stem and pre-norm
transformer layers. The state dict is key-for-key that of
``transformers.models.whisper.modeling_whisper.WhisperEncoder`` (tested to give the same
outputs), so weights move both ways with ``load_state_dict``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class WhisperConfig:
    n_mels: int = 80
    d_model: int = 512
    n_layers: int = 6
    n_heads: int = 8
    ffn_dim: int = 2048
    max_positions: int = 1500  # 30 s of 20 ms frames

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_hf(cls, c) -> WhisperConfig:
        """From a ``transformers`` ``WhisperConfig``."""
        return cls(
            n_mels=c.num_mel_bins,
            d_model=c.d_model,
            n_layers=c.encoder_layers,
            n_heads=c.encoder_attention_heads,
            ffn_dim=c.encoder_ffn_dim,
            max_positions=c.max_source_positions,
        )


class SelfAttention(nn.Module):
    """Multi-head self-attention; the key projection has no bias, as in Whisper."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        b, t, d = x.shape

        def split(y: torch.Tensor) -> torch.Tensor:  # (b, t, d) -> (b, heads, t, d / heads)
            return y.view(b, t, self.heads, d // self.heads).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # (b, heads, t, d / heads)
        return self.out_proj(y.transpose(1, 2).reshape(b, t, d))


class EncoderLayer(nn.Module):
    """Pre-norm transformer layer: x + attn(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, cfg: WhisperConfig) -> None:
        super().__init__()
        self.self_attn = SelfAttention(cfg.d_model, cfg.n_heads)
        self.self_attn_layer_norm = nn.LayerNorm(cfg.d_model)
        self.fc1 = nn.Linear(cfg.d_model, cfg.ffn_dim)
        self.fc2 = nn.Linear(cfg.ffn_dim, cfg.d_model)
        self.final_layer_norm = nn.LayerNorm(cfg.d_model)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.self_attn(self.self_attn_layer_norm(x), bias)
        return x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))


class WhisperEncoder(nn.Module):
    """Conv stem (stride 2), sinusoidal position table, layers, final norm. The forward over
    real frames lives in :class:`emovox.models.encoders.WhisperFrames`."""

    def __init__(self, cfg: WhisperConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.conv1 = nn.Conv1d(cfg.n_mels, cfg.d_model, 3, padding=1)
        self.conv2 = nn.Conv1d(cfg.d_model, cfg.d_model, 3, stride=2, padding=1)
        self.embed_positions = nn.Embedding(cfg.max_positions, cfg.d_model)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.n_layers))
        self.layer_norm = nn.LayerNorm(cfg.d_model)
