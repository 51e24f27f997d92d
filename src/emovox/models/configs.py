"""The model kinds' settings as plain dataclasses, apart from the torch modules that use them:
checking a model's metadata (``emovox.models.checked``) must not import torch, so the NumPy
engine can load a model without it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class CNNLSTMConfig:
    n_features: int = 112
    n_classes: int = 7
    channels: tuple[int, ...] = (32, 64, 128)
    kernel_size: int = 5
    pool: int = 2  # max-pool over time after each conv block
    dropout: float = 0.3
    lstm_hidden: int = 128
    lstm_layers: int = 2
    head_hidden: int = 128
    pooling: str = "mean"  # over LSTM outputs: mean | attentive (weighted mean + std)
    utterance_norm: bool = False  # standardise each feature over the clip's own valid frames
    time_masks: int = 0  # training only: spans of up to time_mask_width frames zeroed
    time_mask_width: int = 30
    feature_masks: int = 0  # training only: bands of up to feature_mask_width features zeroed
    feature_mask_width: int = 12

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CNNLSTMConfig:
        return cls(**{**d, "channels": tuple(d["channels"])})


@dataclass(frozen=True)
class EncoderHeadConfig:
    """Output processor over an encoder's hidden states."""

    d_model: int = 512
    layers: tuple[int, ...] = (2, 3, 4)  # hidden-state indices pooled (0 = embeddings)
    pool: str = "meanstd"  # meanstd: per-layer mean+std, standardised | attentive
    proj_dim: int = 256
    dropout: float = 0.2
    input_dropout: float = 0.5  # meanstd: on the standardised statistics


@dataclass(frozen=True)
class HybridConfig:
    n_classes: int = 7
    use_cnn: bool = True
    use_enc: bool = True  # the encoder pathway
    cnn: CNNLSTMConfig = field(default_factory=CNNLSTMConfig)
    enc: EncoderHeadConfig = field(default_factory=EncoderHeadConfig)
    fusion_dim: int = 256
    fusion_heads: int = 4
    dropout: float = 0.3
    # auxiliary arousal and valence heads (low / neutral / high each), trained from the
    # categorical labels through emovox.data.labels.AROUSAL / VALENCE; the value is their
    # loss's weight beside the categories' (0: no such heads, as in models before 0.3)
    dimensions: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cnn"] = self.cnn.to_dict()
        d["enc"]["layers"] = list(self.enc.layers)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> HybridConfig:
        enc = {**d["enc"], "layers": tuple(d["enc"]["layers"])}
        return cls(
            **{**d, "cnn": CNNLSTMConfig.from_dict(d["cnn"]), "enc": EncoderHeadConfig(**enc)}
        )
