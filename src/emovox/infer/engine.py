"""The engine: a loaded model (one or an ensemble) that answers for 16 kHz waves.

The orchestration is written here once: which heads vote and how much (plain and
speaker-normalised: :func:`emovox.models.ensemble.voting`), the soft vote and its temperature,
arousal and valence from the dimension heads, unfamiliarity, and standardising to a speaker's
enrollment clips. A :class:`Backend` supplies only loading and the forward of a member, so a
new runtime (ONNX Runtime, say) is a backend, not a second engine: NumPy
(:mod:`emovox.infer.numpy_engine`, no torch) and torch (:mod:`emovox.infer.torch_engine`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from emovox.features.standardise import mean_std, standardise
from emovox.models.ensemble import apply_temperature, soft_vote, voting

# the dimension heads' layout: 6 logits read as (arousal, valence) x (low, mid, high)
DIMENSIONS, LEVELS = 2, 3

Logits = tuple[np.ndarray, np.ndarray | None]  # class logits, and dimension logits or None


@runtime_checkable
class Backend(Protocol):
    """What a runtime supplies: the members it loaded and the forward of each."""

    metas: list[dict]  # each member's metadata (labels, encoder layers, speaker_norm ...)
    temperature: float  # fitted on validation answers (calibration)
    threshold: float | None  # the model's own "unsure" gate (model.json), where it has one
    reads_statistics: bool  # every member reads pooled encoder statistics

    def member_inputs(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """Per member, the pooled statistics each wave gives, (waves, dims), unstandardised."""

    def heads(self, k: int, x: np.ndarray, dimensions: bool) -> Logits:
        """Member ``k``'s class logits (n, classes) from its statistics ``x``, and (when
        ``dimensions``) its arousal/valence logits (n, 6), None where it has no such head."""

    def norm(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Member ``k``'s training mean and std of the statistics it reads."""

    def wave_logits(
        self, waves: list[np.ndarray], heads: list[int]
    ) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """For models whose members do not all read statistics: per member in ``heads``, its
        class logits on ``waves`` and its unfamiliarity (None where it has none)."""


class Engine:
    """A model's answers for waves and for pooled statistics, whatever runs its members."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.labels: tuple[str, ...] = tuple(backend.metas[0]["labels"])
        self.threshold: float | None = backend.threshold
        self.reads_statistics = bool(backend.reads_statistics)

    @property
    def temperature(self) -> float:
        return self.backend.temperature

    def speaker_normalised(self) -> list[bool]:
        """Per member, whether it was trained on per-speaker standardised statistics."""
        return [bool(m.get("speaker_norm")) for m in self.backend.metas]

    def training_means(self) -> list[np.ndarray]:
        """Per member, the mean of the statistics it was trained on."""
        return [self.backend.norm(k)[0] for k in range(len(self.backend.metas))]

    def member_inputs(self, waves: list[np.ndarray]) -> list[np.ndarray]:
        """Per member, the statistics each wave gives (waves, dims), before standardisation."""
        if not self.reads_statistics:
            raise ValueError("only models whose members read pooled encoder statistics adapt")
        return self.backend.member_inputs(waves)

    def voice_features(self, inputs: list[np.ndarray]) -> np.ndarray:
        """(n, 2d): the first member's statistics of its earliest encoder layer, the one that
        carries most of who is speaking (:mod:`emovox.infer.speakers`)."""
        layers = self.backend.metas[0]["model_config"]["enc"]["layers"]
        return inputs[0].reshape(len(inputs[0]), len(layers), -1)[:, int(np.argmin(layers))]

    def unfamiliarity(self, k: int, x: np.ndarray) -> np.ndarray:
        """Per clip, the mean squared standardised statistic member ``k`` reads: about 1 on
        its training data, far above on speech unlike it (a diagonal-Gaussian distance)."""
        mean, std = self.backend.norm(k)
        z = (x - mean) / std
        return (z * z).mean(1)

    def classify(
        self, inputs: list[np.ndarray], adapted: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """(calibrated probabilities, unfamiliarity) from each member's statistics; ``adapted``:
        whether they were adapted to the voice, which decides the heads that vote."""
        votes = voting(self.speaker_normalised(), adapted)
        probs = [softmax(self.backend.heads(k, inputs[k], False)[0]) for k, _ in votes]
        unfamiliar = [self.unfamiliarity(k, inputs[k]) for k, _ in votes]
        return self._voted(probs, [share for _, share in votes]), _mean(unfamiliar, votes)

    def dimension_scores(
        self, inputs: list[np.ndarray], adapted: bool = False
    ) -> np.ndarray | None:
        """Arousal and valence (n, 2) in [-1, 1]: P(high) - P(low) of the voting members'
        trained heads, weighed as :meth:`classify` weighs them; None unless all have them."""
        votes = voting(self.speaker_normalised(), adapted)
        out = []
        for k, _ in votes:
            logits = self.backend.heads(k, inputs[k], True)[1]
            if logits is None:
                return None
            out.append(arousal_valence(logits))
        return _mean(out, votes)

    def predict_scored(
        self, waves: list[np.ndarray], enrollment: list[np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities (n, classes), unfamiliarity (n,); NaN where no member has one).

        ``enrollment``: unlabelled clips of the one speaker of ``waves``. Speaker-normalised
        members read the waves standardised by that speaker's own statistics, as in training,
        and both kinds of head vote; without it, only the plain heads answer."""
        if not self.reads_statistics:
            if enrollment is not None or any(self.speaker_normalised()):
                raise ValueError("enrollment needs members that read pooled encoder statistics")
            votes = voting(self.speaker_normalised(), False)
            scored = self.backend.wave_logits(waves, [k for k, _ in votes])
            probs = self._voted([softmax(z) for z, _ in scored], [s for _, s in votes])
            unfamiliar = [o for _, o in scored if o is not None]
            nan = np.full(len(waves), np.nan, dtype=np.float32)
            return probs, np.mean(unfamiliar, 0).astype(np.float32) if unfamiliar else nan
        inputs = self.member_inputs(waves)
        if enrollment:
            own = self.member_inputs(enrollment)
            normalised = zip(inputs, own, self.speaker_normalised(), strict=True)
            inputs = [standardise(x, *mean_std(e)) if sn else x for x, e, sn in normalised]
            return self.classify(inputs, adapted=True)
        if all(self.speaker_normalised()):
            raise ValueError(
                "this model standardises each speaker's voice: pass enrollment clips of the "
                "speaker (predict_waves(..., enrollment=[...])), or analyse a recording or "
                "clips of one speaker together (emovox.load_model(), groups=)"
            )
        return self.classify(inputs)

    def predict_waves(
        self, waves: list[np.ndarray], enrollment: list[np.ndarray] | None = None
    ) -> np.ndarray:
        """Calibrated class probabilities (n, classes) of 16 kHz mono waves."""
        return self.predict_scored(waves, enrollment)[0]

    def _voted(self, probs: list[np.ndarray], shares: list[float]) -> np.ndarray:
        return apply_temperature(soft_vote(probs, shares), self.temperature).astype(np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def arousal_valence(logits: np.ndarray) -> np.ndarray:
    """(n, 2) in [-1, 1] from dimension logits (n, 6): P(high) - P(low) of each axis."""
    p = softmax(logits.reshape(len(logits), DIMENSIONS, LEVELS))
    return p[..., LEVELS - 1] - p[..., 0]


def _mean(values: list[np.ndarray], votes: list[tuple[int, float]]) -> np.ndarray:
    return np.average(values, axis=0, weights=[share for _, share in votes]).astype(np.float32)
