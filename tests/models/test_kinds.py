"""A model kind is one module: a kind defined here, registered, trains, saves, loads and
predicts through the same code as the built-in ones, with no change anywhere in the package."""

import numpy as np
import pytest
import torch
from torch import nn

from emovox import models
from emovox.data.clips import load_clips
from emovox.data.corpora import Manifest
from emovox.infer import torch_engine
from emovox.models.kind import INPUTS, ModelKind
from emovox.train.loop import train

from ..configs import _cfg

pytestmark = pytest.mark.slow  # trains (one epoch of a linear model on 96 clips)


class MeanFeatures(nn.Module):
    """The smallest useful model: each clip's mean feature frame, one linear layer."""

    inputs = ("feats", "feat_mask")
    predicts_dimensions = False

    def __init__(self, n_features: int, n_classes: int) -> None:
        super().__init__()
        self.head = nn.Linear(n_features, n_classes)

    def forward(self, feats: torch.Tensor, feat_mask: torch.Tensor) -> torch.Tensor:
        w = feat_mask[..., None].float()
        return self.head((feats * w).sum(1) / w.sum(1).clamp(min=1))

    def param_groups(self) -> dict:
        return {"head": list(self.head.parameters())}


def _check(overrides: dict) -> None:
    unknown = set(overrides) - {"n_features", "n_classes"}
    if unknown:
        raise ValueError(f"unknown model_config keys: {sorted(unknown)}")


def _build(model_config: dict, encoder=None, finetune_layers: int = 0) -> MeanFeatures:
    return MeanFeatures(model_config["n_features"], model_config["n_classes"])


MEAN_FEATURES = ModelKind(
    name="mean_features",
    summary="the mean feature frame, one linear layer (a test's own kind)",
    needs_encoder=False,
    config=lambda over, n_features, n_classes, d, enc: {
        **over,
        "n_features": n_features,
        "n_classes": n_classes,
    },
    build=_build,
    check=_check,
    reads_features=lambda model_config: True,
    defaults={
        **{k: v for k, v in models.KINDS["cnn_lstm"].defaults.items() if k != "model_config"},
        "optim": {**models.KINDS["cnn_lstm"].defaults["optim"], "lr": {"head": 1e-2}},
    },
)


@pytest.fixture
def registered():
    models.register(MEAN_FEATURES)
    yield MEAN_FEATURES
    del models.KINDS[MEAN_FEATURES.name]


def test_a_kind_defined_outside_the_package_trains_and_predicts(registered, subset, tmp_path):
    assert set(MeanFeatures.inputs) <= set(INPUTS)
    cfg = _cfg(subset, tmp_path, model=registered.name, epochs=1, model_config={})
    metrics = train(cfg, tmp_path / "run", progress=False)
    assert metrics["n"] > 0 and 0.0 <= metrics["accuracy"] <= 1.0
    engine = torch_engine.load(tmp_path / "run")  # rebuilt from safetensors + JSON by its kind
    assert engine.backend.metas[0]["model"] == registered.name
    rows = Manifest.read_tsv(subset).rows[:4]
    probs = engine.predict_waves(load_clips(rows).waves)
    assert probs.shape == (4, len(engine.labels)) and np.allclose(probs.sum(1), 1, atol=1e-5)
    with pytest.raises(ValueError, match="unknown model_config keys"):
        _cfg(subset, tmp_path, model=registered.name, epochs=1, model_config={"depth": 3})
    assert not registered.numpy_predictable(engine.backend.metas[0])  # torch runs it
