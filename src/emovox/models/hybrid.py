"""The hybrid model: CNN-LSTM pathway + pretrained-encoder pathway + attention fusion + head.

The encoder's lower layers are frozen and their outputs cached per clip; the model holds only
the top ``finetune_layers`` encoder layers (trainable) and runs them on the cached states of
the split layer. Either pathway can be used alone (``use_cnn`` / ``use_enc``) for ablations.
"""

from __future__ import annotations

import torch
from torch import nn

from emovox.features.pooling import AttentiveStatsPool, layer_stats
from emovox.models.cnn_lstm import CNNLSTMEncoder
from emovox.models.configs import EncoderHeadConfig, HybridConfig

__all__ = ["EncoderHeadConfig", "HybridConfig", "HybridModel", "split_encoder"]


class LayerWeightedSum(nn.Module):
    """Softmax-weighted sum of selected hidden states: list of (b, t, d) -> (b, t, d)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.zeros(n))

    def forward(self, states: list[torch.Tensor]) -> torch.Tensor:
        w = torch.softmax(self.logits, dim=0)
        return sum(w[i] * s for i, s in enumerate(states))


class EncoderPathway(nn.Module):
    """Encoder hidden states -> one vector.

    ``meanstd``: mean and std over frames of each chosen layer, concatenated, standardised
    with training-set statistics (buffers, set by :meth:`fit_norm`), then an MLP layer. With a
    frozen encoder these statistics are fixed per clip, so training reads them from a cache
    (``pooled``) and never touches frames. ``attentive``: softmax layer weights, projection,
    attentive statistics pooling (for fine-tuned top layers).
    """

    def __init__(self, cfg: EncoderHeadConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.layers = cfg.layers
        if cfg.pool == "meanstd":
            n = len(cfg.layers) * 2 * cfg.d_model
            self.register_buffer("norm_mean", torch.zeros(n))
            self.register_buffer("norm_std", torch.ones(n))
            self.mlp = nn.Sequential(
                nn.Dropout(cfg.input_dropout),
                nn.Linear(n, cfg.proj_dim),
                nn.GELU(),
                nn.Dropout(cfg.dropout),
            )
            self.out_dim = cfg.proj_dim
        elif cfg.pool == "attentive":
            self.mix = LayerWeightedSum(len(cfg.layers))
            self.proj = nn.Sequential(
                nn.LayerNorm(cfg.d_model),
                nn.Linear(cfg.d_model, cfg.proj_dim),
                nn.GELU(),
                nn.Dropout(cfg.dropout),
            )
            self.pool = AttentiveStatsPool(cfg.proj_dim)
            self.out_dim = 2 * cfg.proj_dim
        else:
            raise ValueError(f"unknown pool {cfg.pool!r}; known: meanstd, attentive")

    def fit_norm(self, pooled: torch.Tensor) -> None:
        """Standardisation statistics from training clips' pooled states (n, layers, 2d)."""
        flat = pooled.flatten(1).double()
        self.norm_mean.copy_(flat.mean(0).float())
        self.norm_std.copy_(flat.std(0).clamp(min=1e-5).float())

    def forward(
        self,
        states: list[torch.Tensor] | None,
        mask: torch.Tensor | None,
        pooled: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self.cfg.pool == "meanstd":
            if pooled is None:  # (b, layers, 2d)
                pooled = layer_stats([states[i] for i in self.layers], mask)
            return self.mlp((pooled.flatten(1) - self.norm_mean) / self.norm_std)
        x = self.proj(self.mix([states[i] for i in self.layers]))  # (b, t, proj)
        return self.pool(x, mask)  # (b, 2 * proj)


class AttentionFusion(nn.Module):
    """Pathway vectors -> fused vector: each projected to a token, self-attention across the
    tokens lets each pathway weigh the others, then the tokens are concatenated."""

    def __init__(self, dims: list[int], d: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.proj = nn.ModuleList(nn.Sequential(nn.Linear(n, d), nn.LayerNorm(d)) for n in dims)
        self.attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(d)
        self.out_dim = d * len(dims)

    def forward(self, vectors: list[torch.Tensor]) -> torch.Tensor:
        tokens = torch.stack([p(v) for p, v in zip(self.proj, vectors, strict=True)], dim=1)
        attended, _ = self.attn(tokens, tokens, tokens)  # (b, k, d)
        return self.norm(tokens + attended).flatten(1)  # (b, k * d)


class HybridModel(nn.Module):
    """logits = head(fusion(cnn_lstm(features), enc(top_layers(cached states))))."""

    def __init__(
        self,
        cfg: HybridConfig,
        top_layers: nn.ModuleList | None = None,
        final_norm: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if not (cfg.use_cnn or cfg.use_enc):
            raise ValueError("the hybrid needs at least one pathway")
        self.cfg = cfg
        self.cnn = CNNLSTMEncoder(cfg.cnn) if cfg.use_cnn else None
        self.enc = EncoderPathway(cfg.enc) if cfg.use_enc else None
        self.top = top_layers if top_layers is not None else nn.ModuleList()
        self.final_norm = final_norm
        dims = ([self.cnn.out_dim] if self.cnn else []) + ([self.enc.out_dim] if self.enc else [])
        if len(dims) > 1:
            self.fusion = AttentionFusion(dims, cfg.fusion_dim, cfg.fusion_heads, cfg.dropout)
            self.head = nn.Sequential(
                nn.Dropout(cfg.dropout),
                nn.Linear(self.fusion.out_dim, cfg.fusion_dim),
                nn.GELU(),
                nn.Dropout(cfg.dropout),
                nn.Linear(cfg.fusion_dim, cfg.n_classes),
            )
        else:  # one pathway: nothing to fuse, a linear classifier on its vector
            self.fusion = None
            self.head = nn.Linear(dims[0], cfg.n_classes)
        # arousal (3 logits) then valence (3), read from what the class head reads
        width = self.fusion.out_dim if self.fusion is not None else dims[0]
        self.dims = nn.Linear(width, 6) if cfg.dimensions > 0 else None

    @property
    def inputs(self) -> tuple[str, ...]:
        """What the forward reads, by name (emovox.models.kind.Model): the features for the
        CNN-LSTM pathway; cached per-layer statistics for a frozen ``meanstd`` encoder
        pathway, else hidden states."""
        feats = ("feats", "feat_mask") if self.cnn is not None else ()
        if self.enc is None:
            return feats
        pooled = self.enc.cfg.pool == "meanstd" and not len(self.top)
        return feats + (("pooled",) if pooled else ("states", "state_mask"))

    @property
    def predicts_dimensions(self) -> bool:
        """Whether it has arousal and valence heads (``with_dimensions=True`` reads them)."""
        return self.dims is not None

    def run_top(self, states: list[torch.Tensor], mask: torch.Tensor) -> list[torch.Tensor]:
        """Append the trainable top layers' outputs to the cached lower states."""
        if not len(self.top):
            return states
        bias = torch.zeros(mask.shape, dtype=states[-1].dtype, device=mask.device)
        bias = bias.masked_fill(~mask, torch.finfo(bias.dtype).min)[:, None, None, :]
        x, out = states[-1], list(states)
        for layer in self.top:
            x = layer(x, bias)
            out.append(x)
        if self.final_norm is not None:
            out[-1] = self.final_norm(out[-1])
        return out

    def forward(
        self,
        feats: torch.Tensor | None = None,
        feat_mask: torch.Tensor | None = None,
        states: list[torch.Tensor] | None = None,
        state_mask: torch.Tensor | None = None,
        pooled: torch.Tensor | None = None,
        with_dimensions: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Logits (b, classes), and with ``with_dimensions`` the arousal and valence logits
        (b, 6: low / neutral / high of each; NaN without those heads) too. The encoder
        pathway reads either hidden states (b, t, d) of layers 0..split with their mask, or,
        frozen with ``meanstd`` pooling, the cached per-layer statistics ``pooled``
        (b, layers, 2d)."""
        vectors = []
        if self.cnn is not None:
            vectors.append(self.cnn(feats, feat_mask))
        if self.enc is not None:
            if pooled is not None:
                vectors.append(self.enc(None, None, pooled))
            else:
                vectors.append(self.enc(self.run_top(states, state_mask), state_mask))
        z = self.fusion(vectors) if self.fusion is not None else vectors[0]
        if not with_dimensions:
            return self.head(z)
        dims = self.dims(z) if self.dims is not None else z.new_full((len(z), 6), float("nan"))
        return self.head(z), dims

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Per-component parameters: encoder top layers, CNN-LSTM, encoder head, fusion + head."""
        groups = {
            "encoder": [
                p for m in (self.top, self.final_norm) if m is not None for p in m.parameters()
            ],
            "cnn_lstm": list(self.cnn.parameters()) if self.cnn else [],
            "encoder_head": list(self.enc.parameters()) if self.enc else [],
            "head": [
                p
                for m in (self.fusion, self.head, self.dims)
                if m is not None
                for p in m.parameters()
            ],
        }
        return {k: v for k, v in groups.items() if v}


def split_encoder(
    frames_model, finetune_layers: int, cut: int | None = None
) -> tuple[int, nn.ModuleList, nn.Module | None]:
    """(split index, trainable top layers, final norm) of an encoder (a frame model).

    The encoder is used up to layer ``cut`` (default: all; the pathway passes its highest
    pooled layer, so layers above it are never run). Hidden states 0..split are computed by
    the frozen part (and cached); the ``finetune_layers`` layers split+1..cut are deep copies,
    so the frozen encoder's own weights are never touched by training. Fine-tuning needs a
    Whisper encoder; any encoder can be used frozen.
    """
    import copy

    n = frames_model.n_layers
    cut = n if cut is None else cut
    if not 0 <= finetune_layers <= cut <= n:
        raise ValueError(f"finetune_layers must be 0..{cut} (the highest pooled layer)")
    split = cut - finetune_layers
    if finetune_layers == 0:
        return split, nn.ModuleList(), None
    encoder = getattr(frames_model, "encoder", None)
    if encoder is None:
        raise ValueError(
            "fine-tuning top layers needs a Whisper encoder; use "
            "finetune_layers 0 with HuBERT / wav2vec2 / WavLM"
        )
    # the copies are trained even when the encoder was loaded frozen (requires_grad off)
    top = nn.ModuleList(copy.deepcopy(layer) for layer in encoder.layers[split:cut])
    norm = copy.deepcopy(encoder.layer_norm).requires_grad_(True) if cut == n else None
    return split, top.requires_grad_(True), norm
