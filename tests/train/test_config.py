"""The typed config: validation by key name, kind defaults, layering, old names."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emovox import models
from emovox.store import legacy
from emovox.train import config

from ..conftest import RAVDESS

pytestmark = pytest.mark.fast  # the file's tier (tests/README.md)

LEGACY = Path(__file__).parents[1] / "fixtures" / "legacy_model"


def test_unknown_and_mistyped_keys_are_rejected_by_name():
    def flags(**kw):
        return config.load_config(None, kw)  # as the command line builds a config

    with pytest.raises(ValueError, match=r"unknown config keys: \['epoch'\]"):
        flags(epoch=3)
    with pytest.raises(ValueError, match=r"optim\.weight_dekay"):
        flags(optim={"weight_dekay": 0.1})
    with pytest.raises(ValueError, match=r"'epochs' must be int, got '3'"):
        flags(epochs="3")
    with pytest.raises(ValueError, match=r"augment\.snr_db"):
        flags(augment={"snr_db": [1, 2, 3]})
    with pytest.raises(ValueError, match=r"model_config\.lstm_hiden"):
        flags(model="cnn_lstm", model_config={"lstm_hiden": 8})
    with pytest.raises(ValueError, match=r"model_config\.cnn\.chanels"):
        flags(model="hybrid", model_config={"cnn": {"chanels": [8]}})
    with pytest.raises(ValueError, match="unknown model 'cnn'; known: encoder, cnn_lstm, hybrid"):
        flags(model="cnn")
    with pytest.raises(ValueError, match="one entry per member"):
        flags(ensemble=2, member_overrides=[{"encoder_layers": [1, 2]}])
    with pytest.raises(ValueError, match="needs encoder and encoder_layers"):
        flags(encoder_layers=[])


def test_a_config_without_its_kinds_defaults_is_not_a_recipe():
    """The training settings are written once, in the kind registry: a bare TrainConfig or a
    partial dict is refused, naming what is missing and where it comes from."""
    with pytest.raises(TypeError, match="epochs"):
        config.TrainConfig()
    with pytest.raises(ValueError, match=r"missing config keys: \['epochs'.*load_config"):
        config.validate({"seed": 4})
    cfg = config.load_config(None, {"model": "cnn_lstm"})
    kind = models.kind("cnn_lstm").defaults
    assert (cfg.epochs, cfg.batch_size, cfg.select) == (
        kind["epochs"],
        kind["batch_size"],
        kind["select"],
    )
    assert cfg.optim.label_smoothing == kind["optim"]["label_smoothing"]


def test_sections_are_typed_dataclasses_and_round_trip():
    cfg = config.load_config(
        None, {"feature": {"n_mfcc": 20}, "augment": {"snr_db": [5, 15]}, "seed": 4}
    )
    assert cfg.feature.n_mfcc == 20 and cfg.feature.n_features == 112 - 30
    assert cfg.augment.snr_db == (5.0, 15.0) and isinstance(cfg.augment.snr_db[0], float)
    assert config.validate(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_kind_defaults_are_the_best_measured_settings_under_file_and_flags(tmp_path):
    bare = config.load_config(None, {"model": "cnn_lstm"})
    kind = models.kind("cnn_lstm")
    assert bare.variants == kind.defaults["variants"] == 4 and bare.select == "last"
    assert bare.epochs == 50 and bare.optim.lr == {"cnn_lstm": 3e-3, "head": 3e-3}
    assert bare.model_config["time_masks"] == 2 and bare.augment.enabled is False
    assert config.load_config().model == "encoder"  # the best model kind by default
    p = tmp_path / "c.yaml"
    p.write_text("model: cnn_lstm\nepochs: 7\nlabels: 8\noptim: {lr: {head: 0.002}}\n")
    cfg = config.load_config(p, {"epochs": 9, "seed": None})
    assert cfg.epochs == 9 and cfg.labels == 8 and cfg.seed == 0
    assert cfg.optim.lr == {"cnn_lstm": 3e-3, "head": 0.002}  # dicts merge key by key
    assert np.isclose(cfg.optim.weight_decay, 1e-2) and cfg.variants == 4


def test_old_names_translate(tmp_path):
    old = {
        "model": "ssl",
        "ssl_layers": [1, 2],
        "ssl_pool": "meanstd",
        "protocol": "random",
        "fold": 3,
        "lr": {"ssl_head": 1e-3, "head": 1e-3},
        "weight_decay": 0.05,
        "model_config": {"ssl": {"proj_dim": 8}},
        "member_overrides": [{"ssl_layers": [3]}],
        "ensemble": 1,
    }
    cfg = config.load_config(None, old)
    assert cfg.model == "encoder" and cfg.encoder_layers == [1, 2]
    assert cfg.split_seed == 3 and cfg.fold == 1  # "fold" was the random split's seed
    assert cfg.optim.lr["encoder_head"] == 1e-3 and cfg.optim.weight_decay == 0.05
    assert cfg.model_config == {
        **models.KINDS["encoder"].defaults["model_config"],
        "enc": {"proj_dim": 8},
    }
    assert cfg.member_overrides == [{"encoder_layers": [3]}]
    p = tmp_path / "old.yaml"
    p.write_text("model: ssl\nssl_layers: [2, 3]\nlr: {ssl_head: 0.01, head: 0.01}\n")
    assert config.load_config(p).optim.lr["encoder_head"] == 0.01
    assert legacy.tensor_name("model.ssl.mlp.1.weight") == "model.enc.mlp.1.weight"


def test_a_model_folder_written_with_the_old_names_predicts_as_it_did():
    """tests/fixtures/legacy_model was exported by emovox 0.1 (kind ``ssl``, ``model.ssl.*``
    tensors) with its probabilities on four RAVDESS clips: both predictors still give them."""
    import emovox
    from emovox import audio
    from emovox.infer import torch_engine

    spec = json.loads((LEGACY / "model.json").read_text())
    assert spec["train"]["model"] == "ssl" and "ssl_layers" in spec["train"]
    config.validate(spec["train"])  # the old config is still a valid config
    root = RAVDESS / "Actor_07"
    if not root.is_dir():
        pytest.skip("RAVDESS not found")
    waves = [audio.load(root / n) for n in json.loads((LEGACY / "clips.json").read_text())]
    expected = np.load(LEGACY / "probs.npy")
    assert np.abs(torch_engine.load(LEGACY).predict_waves(waves) - expected).max() < 1e-6
    fast = emovox.load_model(LEGACY)
    assert type(fast.engine.backend).__name__ == "NumpyBackend"
    assert np.abs(fast.predict_waves(waves) - expected).max() < 1e-5


MODEL_0_3 = Path(__file__).parents[1] / "fixtures" / "model_0_3"


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_the_model_bundled_with_0_3_answers_as_it_did(engine):
    """tests/fixtures/model_0_3 is the bundled model of emovox 0.3.0 (no arousal heads, no
    threshold of its own), with the answers 0.3.0 gave on six RAVDESS clips: emotion,
    probabilities, and arousal and valence placed from the probabilities."""
    import emovox

    root = RAVDESS / "Actor_07"
    if not root.is_dir():
        pytest.skip("RAVDESS not found")
    model = emovox.load_model(MODEL_0_3, engine=engine)
    assert model.cfg.threshold == 0.3  # the analysis default, as 0.3.0 always used
    answers = json.loads((MODEL_0_3.parent / "model_0_3_answers.json").read_text())
    for want in (a for a in answers if a["engine"] == engine):
        got = model.predict(str(root / want["clip"]))
        assert (got.emotion, got.reason) == (want["emotion"], want["reason"]), want["clip"]
        for k, p in want["probabilities"].items():
            assert got.probabilities[k] == pytest.approx(p, abs=2e-4)
        assert (got.arousal, got.valence) == pytest.approx(
            (want["arousal"], want["valence"]), abs=2e-4
        )


def test_import_emovox_loads_no_torch_and_has_a_version():
    code = (
        "import sys, emovox; print(emovox.__version__); "
        "print(sorted(m for m in ('torch', 'sklearn', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    version, heavy = out.stdout.split("\n")[:2]
    assert version.count(".") >= 2 and heavy == "[]"
    cli = subprocess.run(
        [sys.executable, "-m", "emovox.cli", "--version"],
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    assert cli.returncode == 0 and cli.stdout.strip() == f"emovox {version}"
