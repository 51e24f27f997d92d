"""The registry of model kinds: what the rest of emovox asks about a kind.

Each kind is one module under :mod:`emovox.models.kinds` declaring how its model is built,
what it reads, whether the NumPy backend runs it, and its defaults; ``register`` adds one
from outside (a kind defined in a test or a plugin). One nn.Module per idea lives beside this
file (``cnn_lstm``, ``hybrid``, ``encoders``, ``whisper``). Nothing here imports torch: the
builders import their modules when called, so the NumPy backend can ask whether it runs a
model without loading torch.
"""

from __future__ import annotations

from pathlib import Path

from emovox.audio.decode import SAMPLE_RATE
from emovox.models.kind import ModelKind
from emovox.models.kinds import cnn_lstm, encoder, hybrid
from emovox.store import legacy
from emovox.store.integrity import ModelError

KINDS: dict[str, ModelKind] = {k.name: k for k in (encoder.KIND, cnn_lstm.KIND, hybrid.KIND)}
DEFAULT_KIND = encoder.KIND.name  # what ``emovox train`` trains without --model


def register(new: ModelKind) -> ModelKind:
    """Add a kind (or replace one of the same name); it trains, saves, loads and predicts as
    the built-in ones do."""
    KINDS[new.name] = new
    return new


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
