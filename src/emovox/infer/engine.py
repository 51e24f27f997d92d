"""What the analyzer asks of a model: the contract both engines (``torch_engine.Predictor``,
``numpy_engine.LitePredictor``) keep, so the analyzer never probes for methods."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Engine(Protocol):
    """A loaded model (or ensemble) that answers for 16 kHz waves."""

    labels: tuple[str, ...]
    threshold: float | None  # the model's own "unsure" gate (model.json), where it has one

    def predict_waves(self, waves: list[np.ndarray]) -> np.ndarray:
        """Calibrated class probabilities, (clips, classes)."""

    def predict_scored(self, waves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, unfamiliarity per clip; NaN where the model has no such score)."""

    @property
    def reads_statistics(self) -> bool:
        """Whether every member reads pooled encoder statistics, so a recording's windows
        can be adapted to it (then the three methods below work)."""

    def member_inputs(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """Per member, the pooled statistics each wave gives, (waves, dims)."""

    def classify(
        self, inputs: list[np.ndarray], adapted: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, unfamiliarity) from per-member statistics; ``adapted``: whether they
        were adapted to the voice, which decides the heads that vote
        (:func:`emovox.models.ensemble.head_weights`)."""

    def dimension_scores(
        self, inputs: list[np.ndarray], adapted: bool = False
    ) -> np.ndarray | None:
        """Arousal and valence in [-1, 1], (n, 2): P(high) - P(low) of the voting members'
        trained heads, weighed as :meth:`classify` weighs them; None when they have none."""

    def training_means(self) -> list[np.ndarray]:
        """Per member, the mean statistics of its training clips."""

    def speaker_normalised(self) -> list[bool]:
        """Per member, whether it was trained on per-speaker standardised statistics."""

    def voice_features(self, inputs: list[np.ndarray]) -> np.ndarray:
        """(n, 2d): the first member's statistics of its earliest encoder layer, the one that
        carries most of who is speaking (:mod:`emovox.infer.speakers`)."""
