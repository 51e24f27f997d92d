"""The shared emotion vocabulary and the label sets the models are trained on."""

from __future__ import annotations

import numpy as np

#: Every corpus reader maps its own codes onto these names.
VOCABULARY = ("neutral", "calm", "happy", "sad", "angry", "fear", "disgust", "surprise")

#: Label sets by number of classes, in the order of the classifier's outputs.
#: 7 is the reference report's set (calm dropped); 8 is every RAVDESS emotion.
LABEL_SETS: dict[int, tuple[str, ...]] = {
    7: ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"),
    8: ("angry", "calm", "disgust", "fear", "happy", "neutral", "sad", "surprise"),
}

_SYNONYMS = {
    "anger": "angry",
    "ang": "angry",
    "fearful": "fear",
    "fea": "fear",
    "afraid": "fear",
    "happiness": "happy",
    "joy": "happy",
    "hap": "happy",
    "sadness": "sad",
    "surprised": "surprise",
    "ps": "surprise",
    "pleasant_surprise": "surprise",
    "disgusted": "disgust",
    "dis": "disgust",
    "neu": "neutral",
}


def normalise_label(label: str) -> str:
    """Map a corpus label (any case, common synonyms) to the shared vocabulary, or raise."""
    key = label.strip().lower().replace(" ", "_")
    key = _SYNONYMS.get(key, key)
    if key not in VOCABULARY:
        raise ValueError(f"unknown emotion label {label!r}; known: {', '.join(VOCABULARY)}")
    return key


def label_set(n_classes: int) -> tuple[str, ...]:
    """The ordered label set for 7 or 8 classes."""
    if n_classes not in LABEL_SETS:
        raise ValueError(f"labels must be one of {sorted(LABEL_SETS)}, got {n_classes}")
    return LABEL_SETS[n_classes]


#: The one mapping from categories to the circumplex's two axes: -1 low (or negative), 0 in
#: between, +1 high (or positive). Arousal carries across languages better than categories do
#: (docs/generalisation.md); binary arousal is scored on the labels that are not 0.
AROUSAL = {
    "angry": 1,
    "fear": 1,
    "happy": 1,
    "surprise": 1,
    "disgust": 0,
    "neutral": -1,
    "calm": -1,
    "sad": -1,
}
VALENCE = {
    "happy": 1,
    "calm": 1,
    "neutral": 0,
    "surprise": 0,
    "angry": -1,
    "disgust": -1,
    "fear": -1,
    "sad": -1,
}


def axes(labels: tuple[str, ...] | list[str]) -> np.ndarray:
    """(classes, 2): each label's place on arousal and valence, so ``probs @ axes(labels)`` is
    where distributions over ``labels`` sit on the two axes (what :func:`dimensions` says)."""
    return np.array([[AROUSAL.get(k, 0), VALENCE.get(k, 0)] for k in labels], dtype=np.float32)


def dimensions(probabilities: dict[str, float]) -> dict[str, float]:
    """``{"arousal": a, "valence": v}``, each in [-1, 1]: where a distribution over the labels
    sits on the two axes (the expectation under :data:`AROUSAL` and :data:`VALENCE`)."""
    total = sum(probabilities.values()) or 1.0
    return {
        name: round(sum(p * axis.get(k, 0) for k, p in probabilities.items()) / total, 4)
        for name, axis in (("arousal", AROUSAL), ("valence", VALENCE))
    }
