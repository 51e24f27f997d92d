"""What the kinds share: the settings every kind trains with unless its module says
otherwise, SpecAugment-style masks, recording conditions and the hybrid config builder (the
encoder kind is the hybrid without its CNN-LSTM pathway)."""

from __future__ import annotations

# SpecAugment-style masking of the standardised feature frames while training (measured alone
# and with cached augmented copies: docs/results.md, "CNN-LSTM alone")
MASKS = {"time_masks": 2, "time_mask_width": 30, "feature_masks": 2, "feature_mask_width": 12}


def hybrid_config(use_cnn: bool):
    def config(overrides: dict, n_features: int, n_classes: int, d_model: int, enc: dict) -> dict:
        from emovox.models.configs import CNNLSTMConfig, EncoderHeadConfig, HybridConfig

        rest = dict(overrides)
        cnn, head = rest.pop("cnn", {}), rest.pop("enc", {})
        if set(head) & {"d_model", "layers", "pool"}:
            raise ValueError("set encoder_layers / encoder_pool, not model_config.enc's")
        cnn_cfg = CNNLSTMConfig(**{**cnn, "n_features": n_features, "n_classes": n_classes})
        head_cfg = EncoderHeadConfig(
            **{"d_model": d_model, "layers": tuple(enc["layers"]), "pool": enc["pool"], **head}
        )
        return HybridConfig(
            n_classes=n_classes, **{"use_cnn": use_cnn, **rest}, cnn=cnn_cfg, enc=head_cfg
        ).to_dict()

    return config


def build_hybrid(model_config: dict, encoder=None, finetune_layers: int = 0):
    from emovox.models.hybrid import HybridConfig, HybridModel, split_encoder

    cfg = HybridConfig.from_dict(model_config)
    _, top, norm = split_encoder(encoder, finetune_layers, max(cfg.enc.layers))
    return HybridModel(cfg, top, norm)


def check_hybrid(overrides: dict) -> None:
    from emovox.models.configs import CNNLSTMConfig, EncoderHeadConfig, HybridConfig
    from emovox.store.typed import build

    rest = dict(overrides)
    build(CNNLSTMConfig, rest.pop("cnn", {}), "model_config.cnn.")
    build(EncoderHeadConfig, rest.pop("enc", {}), "model_config.enc.")
    build(HybridConfig, rest, "model_config.")


# the recording conditions of the encoder kind's cached copies (emovox.audio.degrade): rooms,
# babble of other training speakers, coloured noise, codecs / telephone, clipping
CONDITIONS = {
    "enabled": False,
    "p_pitch": 0.0,
    "p_stretch": 0.0,
    "p_noise": 0.0,
    "p_gain": 0.0,
    "p_room": 0.4,
    "p_babble": 0.4,
    "p_colour_noise": 0.4,
    "p_channel": 0.3,
    "p_clip": 0.2,
}

# what every kind trains with unless its entry says otherwise
COMMON = {
    "batch_size": 32,
    "patience": 10,
    "optim": {"label_smoothing": 0.1, "class_weights": True},
}


def recipe(kind: dict) -> dict:
    """``COMMON`` under one kind's settings (the optimiser's keys merged)."""
    return {**COMMON, **kind, "optim": {**COMMON["optim"], **kind["optim"]}}
