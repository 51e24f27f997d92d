"""The hybrid kind: the CNN-LSTM pathway and a frozen encoder pathway, attention fusion."""

from __future__ import annotations

from emovox.models.kind import ModelKind
from emovox.models.kinds.common import MASKS, build_hybrid, check_hybrid, hybrid_config, recipe

ENCODER = {"encoder": "whisper-base", "encoder_layers": [2, 3, 4]}

KIND = ModelKind(
    name="hybrid",
    summary="CNN-LSTM pathway + frozen encoder pathway, attention fusion",
    needs_encoder=True,
    config=hybrid_config(use_cnn=True),
    build=build_hybrid,
    check=check_hybrid,
    reads_features=lambda model_config: model_config.get("use_cnn", True),
    defaults=recipe(
        {
            **ENCODER,
            "epochs": 50,
            "select": "last",
            "optim": {
                "lr": {"cnn_lstm": 3e-3, "encoder_head": 1e-3, "head": 1e-3, "encoder": 3e-5},
                "weight_decay": 0.05,
            },
            # without copies the fusion ignores the CNN-LSTM (docs/results.md)
            "variants": 4,
            "augment": {"enabled": False},
            "model_config": {"cnn": MASKS},
        }
    ),
    measured="76.2% ± 5.2 speaker 6-fold 8 classes: emovox cv --model hybrid "
    "--protocol speaker --labels 8 --out runs/hybrid",
)
