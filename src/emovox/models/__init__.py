"""Model kinds, declared once: how each is built, what it reads, what runs it, its defaults.

One nn.Module per idea lives beside this file (``cnn_lstm``, ``hybrid``, ``encoders``,
``whisper``, ``pooling``); this registry is what the rest of emovox asks about a kind. It
imports no torch: the builders import their modules when called, so the NumPy predictor can
ask whether it runs a model without loading torch. Adding a kind is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emovox.audio.decode import SAMPLE_RATE
from emovox.store import legacy
from emovox.store.integrity import ModelError

# SpecAugment-style masking of the standardised feature frames while training (measured alone
# and with cached augmented copies: docs/results.md, "CNN-LSTM alone")
_MASKS = {"time_masks": 2, "time_mask_width": 30, "feature_masks": 2, "feature_mask_width": 12}


@dataclass(frozen=True)
class ModelKind:
    """What emovox needs to know about one kind of model."""

    name: str
    summary: str
    needs_encoder: bool  # reads a pretrained encoder's hidden states (encoder weights named
    #   in the checkpoint, never copied in)
    config: Callable[[dict, int, int, int, dict], dict]  # (overrides, n_features, n_classes,
    #   encoder width, encoder settings) -> the module's full config dict
    build: Callable[..., object]  # (full config dict, encoder or None, finetune layers)
    check: Callable[[dict], None]  # rejects unknown / mistyped model_config keys by name
    defaults: dict = field(default_factory=dict)  # the best settings measured for this kind
    measured: str = ""  # the result ``defaults`` stand for, and the command that gives it

    def reads_features(self, model_config: dict) -> bool:
        """Whether the model reads the handcrafted frame features (the CNN-LSTM pathway)."""
        return self.name == "cnn_lstm" or (
            self.name == "hybrid" and model_config.get("use_cnn", True)
        )

    def check_model_config(self, overrides: dict) -> None:
        self.check(overrides)

    def numpy_predictable(self, meta: dict) -> bool:
        """Whether the torch-free predictor (:mod:`emovox.infer.numpy_engine`) runs this
        checkpoint: a frozen encoder, mean+std pooled."""
        enc = meta.get("model_config", {}).get("enc", {})
        return (
            self.name == "encoder"
            and enc.get("pool") == "meanstd"
            and not meta.get("finetune_layers")
        )


def _cnn_config(overrides: dict, n_features: int, n_classes: int, d_model: int, enc: dict) -> dict:
    from emovox.models.configs import CNNLSTMConfig

    return CNNLSTMConfig(
        **{**overrides, "n_features": n_features, "n_classes": n_classes}
    ).to_dict()


def _build_cnn(model_config: dict, encoder=None, finetune_layers: int = 0):
    from emovox.models.cnn_lstm import CNNLSTM, CNNLSTMConfig

    return CNNLSTM(CNNLSTMConfig.from_dict(model_config))


def _check_cnn(overrides: dict) -> None:
    from emovox.models.configs import CNNLSTMConfig
    from emovox.store.typed import build

    build(CNNLSTMConfig, overrides, "model_config.")


def _hybrid_config(use_cnn: bool):
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


def _build_hybrid(model_config: dict, encoder=None, finetune_layers: int = 0):
    from emovox.models.hybrid import HybridConfig, HybridModel, split_encoder

    cfg = HybridConfig.from_dict(model_config)
    _, top, norm = split_encoder(encoder, finetune_layers, max(cfg.enc.layers))
    return HybridModel(cfg, top, norm)


def _check_hybrid(overrides: dict) -> None:
    from emovox.models.configs import CNNLSTMConfig, EncoderHeadConfig, HybridConfig
    from emovox.store.typed import build

    rest = dict(overrides)
    build(CNNLSTMConfig, rest.pop("cnn", {}), "model_config.cnn.")
    build(EncoderHeadConfig, rest.pop("enc", {}), "model_config.enc.")
    build(HybridConfig, rest, "model_config.")


# the recording conditions of the encoder kind's cached copies (emovox.audio.degrade): rooms,
# babble of other training speakers, coloured noise, codecs / telephone, clipping
_CONDITIONS = {
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

_ENCODER = {"encoder": "whisper-base", "encoder_layers": [2, 3, 4]}  # the hybrid's

# the encoder kind's, chosen by leave-one-corpus-out UA (docs/generalisation.md): states 1-4
# (earlier states carry across corpora better), 20 epochs (less fitting to the training
# corpora), one milder copy under recording conditions (harsher or more copies cost accuracy
# on corpora never heard), arousal and valence heads beside the categories
_GENERALISING = {
    "encoder": "whisper-base",
    "encoder_layers": [1, 2, 3, 4],
    "epochs": 20,
    "variants": 1,
    "augment": {**_CONDITIONS, "babble_snr_db": [10.0, 30.0], "noise_snr_db": [10.0, 30.0]},
    # arousal/valence heads at half the class loss's weight; a 128-wide hidden layer (256
    # before 0.4.1): both chosen by leave-one-corpus-out UA (docs/generalisation.md)
    "model_config": {"dimensions": 0.5, "enc": {"proj_dim": 128}},
}

# what every kind trains with unless its entry says otherwise
_COMMON = {
    "batch_size": 32,
    "patience": 10,
    "optim": {"label_smoothing": 0.1, "class_weights": True},
}


def _recipe(kind: dict) -> dict:
    """``_COMMON`` under one kind's settings (the optimiser's keys merged)."""
    return {**_COMMON, **kind, "optim": {**_COMMON["optim"], **kind["optim"]}}


DEFAULT_KIND = "encoder"  # what ``emovox train`` trains without --model

KINDS: dict[str, ModelKind] = {
    k.name: k
    for k in (
        ModelKind(
            name="encoder",
            summary="frozen pretrained encoder (Whisper base), mean+std of hidden states 1-4, "
            "one hidden layer, arousal and valence heads",
            needs_encoder=True,
            config=_hybrid_config(use_cnn=False),
            build=_build_hybrid,
            check=_check_hybrid,
            defaults=_recipe(
                {
                    **_GENERALISING,
                    "select": "last",  # last beat best-on-validation (docs/results.md)
                    "optim": {
                        "lr": {"encoder_head": 1e-3, "head": 1e-3, "encoder": 3e-5},
                        "weight_decay": 0.05,
                    },
                    # one speech level in: the gain of a recording does not change the answer
                    "level_db": -25.0,
                }
            ),
            measured="leave-one-corpus-out (RAVDESS, ASED, nEMO), 3-head vote: 47.3% UA "
            "(python benchmarks/loco.py --name default-x3 --set ensemble=3); speaker 6-fold 7 "
            "classes: 78.0% +- 5.3 (emovox cv --labels 7 --ensemble 3; docs/generalisation.md)",
        ),
        ModelKind(
            name="cnn_lstm",
            summary="the reference design's CNN-LSTM over 112 handcrafted features per frame",
            needs_encoder=False,
            config=_cnn_config,
            build=_build_cnn,
            check=_check_cnn,
            defaults=_recipe(
                {
                    "epochs": 50,
                    "select": "last",
                    "optim": {"lr": {"cnn_lstm": 3e-3, "head": 3e-3}, "weight_decay": 0.01},
                    "variants": 4,  # cached augmented copies (docs/results.md, "CNN-LSTM alone")
                    "augment": {"enabled": False},
                    "model_config": _MASKS,
                }
            ),
            measured="56.9% ± 1.8 speaker 6-fold 8 classes (one model; 59.4% as an ensemble "
            "of 3): emovox cv --model cnn_lstm --protocol speaker --labels 8 --out runs/cnn",
        ),
        ModelKind(
            name="hybrid",
            summary="CNN-LSTM pathway + frozen encoder pathway, attention fusion",
            needs_encoder=True,
            config=_hybrid_config(use_cnn=True),
            build=_build_hybrid,
            check=_check_hybrid,
            defaults=_recipe(
                {
                    **_ENCODER,
                    "epochs": 50,
                    "select": "last",
                    "optim": {
                        "lr": {
                            "cnn_lstm": 3e-3,
                            "encoder_head": 1e-3,
                            "head": 1e-3,
                            "encoder": 3e-5,
                        },
                        "weight_decay": 0.05,
                    },
                    # without copies the fusion ignores the CNN-LSTM (docs/results.md)
                    "variants": 4,
                    "augment": {"enabled": False},
                    "model_config": {"cnn": _MASKS},
                }
            ),
            measured="76.2% ± 5.2 speaker 6-fold 8 classes: emovox cv --model hybrid "
            "--protocol speaker --labels 8 --out runs/hybrid",
        ),
    )
}


def kind(name: str) -> ModelKind:
    """The kind called ``name`` (old names accepted), or a ValueError listing the known ones."""
    name = legacy.kind(name)
    if name not in KINDS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(KINDS)}")
    return KINDS[name]


def checked(stem: str | Path, meta: dict) -> ModelKind:
    """The kind a checkpoint's metadata names, once it names a known kind, a valid model
    config, as many labels as the model has outputs, (if it needs one) an encoder and the
    sample rate emovox reads at; else a ModelError naming ``stem``. Both engines ask this
    before reading any tensor."""
    try:
        found = kind(meta["model"])
        found.check_model_config(meta["model_config"])
        labels, n = meta["labels"], meta["model_config"]["n_classes"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(stem, f"checkpoint metadata refused: {exc}") from None
    if (
        not (isinstance(labels, list) and all(isinstance(x, str) for x in labels))
        or len(labels) != n
    ):
        raise ModelError(stem, f"labels {labels!r} do not match the model's {n} outputs")
    if found.needs_encoder and not isinstance(meta.get("encoder"), str):
        raise ModelError(stem, "checkpoint metadata names no encoder")
    rate = meta.get("sample_rate", SAMPLE_RATE)  # models before 0.3 were all 16 kHz
    if rate != SAMPLE_RATE:
        raise ModelError(stem, f"made for {rate} Hz audio; emovox reads audio at {SAMPLE_RATE}")
    return found
