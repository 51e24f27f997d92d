"""The reference design's kind: a CNN-LSTM over 112 handcrafted features per frame."""

from __future__ import annotations

from emovox.models.kind import ModelKind
from emovox.models.kinds.common import MASKS, recipe


def config(overrides: dict, n_features: int, n_classes: int, d_model: int, enc: dict) -> dict:
    from emovox.models.configs import CNNLSTMConfig

    return CNNLSTMConfig(
        **{**overrides, "n_features": n_features, "n_classes": n_classes}
    ).to_dict()


def build(model_config: dict, encoder=None, finetune_layers: int = 0):
    from emovox.models.cnn_lstm import CNNLSTM, CNNLSTMConfig

    return CNNLSTM(CNNLSTMConfig.from_dict(model_config))


def check(overrides: dict) -> None:
    from emovox.models.configs import CNNLSTMConfig
    from emovox.store.typed import build as typed

    typed(CNNLSTMConfig, overrides, "model_config.")


KIND = ModelKind(
    name="cnn_lstm",
    summary="the reference design's CNN-LSTM over 112 handcrafted features per frame",
    needs_encoder=False,
    config=config,
    build=build,
    check=check,
    reads_features=lambda model_config: True,
    defaults=recipe(
        {
            "epochs": 50,
            "select": "last",
            "optim": {"lr": {"cnn_lstm": 3e-3, "head": 3e-3}, "weight_decay": 0.01},
            "variants": 4,  # cached augmented copies (docs/results.md, "CNN-LSTM alone")
            "augment": {"enabled": False},
            "model_config": MASKS,
        }
    ),
    measured="56.9% ± 1.8 speaker 6-fold 8 classes (one model; 59.4% as an ensemble "
    "of 3): emovox cv --model cnn_lstm --protocol speaker --labels 8 --out runs/cnn",
)
