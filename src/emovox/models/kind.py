"""What emovox knows about a kind of model, and the forward contract every model keeps.

A kind is one module under :mod:`emovox.models.kinds` declaring a :class:`ModelKind`: how its
model is configured and built, what it reads, whether the NumPy backend runs it, and its
defaults. The registry (:mod:`emovox.models`) imports the kinds; nothing else names them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

# the inputs a model's forward may read, by name: the handcrafted frame features and their
# frame mask (batch, time, features), an encoder's hidden states (a list of (batch, frames,
# d)) and their mask, or an encoder's pooled per-layer statistics (batch, layers, 2d)
INPUTS = ("feats", "feat_mask", "states", "state_mask", "pooled")


class Model(Protocol):
    """The forward contract: ``model(**named)`` with the names of :attr:`inputs` gives logits
    (batch, classes); with ``with_dimensions=True`` (when :attr:`predicts_dimensions`) also
    arousal and valence logits (batch, 6). ``param_groups`` names the parameters that get
    their own learning rate (``optim.lr`` keys)."""

    inputs: tuple[str, ...]  # a subset of INPUTS
    predicts_dimensions: bool

    def param_groups(self) -> dict: ...


def _never(meta: dict) -> bool:
    return False


@dataclass(frozen=True)
class ModelKind:
    """What emovox needs to know about one kind of model."""

    name: str
    summary: str
    needs_encoder: bool  # reads a pretrained encoder's hidden states (encoder weights named
    #   in the checkpoint, never copied in)
    config: Callable[[dict, int, int, int, dict], dict]  # (overrides, n_features, n_classes,
    #   encoder width, encoder settings) -> the module's full config dict
    build: Callable[..., object]  # (full config dict, encoder or None, finetune layers) ->
    #   a Model
    check: Callable[[dict], None]  # rejects unknown / mistyped model_config keys by name
    reads_features: Callable[[dict], bool]  # (model_config) -> whether it reads the
    #   handcrafted frame features (their extraction and statistics are then prepared)
    defaults: dict = field(default_factory=dict)  # the best settings measured for this kind
    measured: str = ""  # the result ``defaults`` stand for, and the command that gives it
    numpy: Callable[[dict], bool] = _never  # (checkpoint metadata) -> whether the torch-free
    #   backend (emovox.infer.numpy_engine) runs it
    speaker_norm: bool = False  # whether it trains on per-speaker standardised statistics

    def check_model_config(self, overrides: dict) -> None:
        self.check(overrides)

    def numpy_predictable(self, meta: dict) -> bool:
        """Whether the torch-free backend runs this checkpoint."""
        return self.numpy(meta)
