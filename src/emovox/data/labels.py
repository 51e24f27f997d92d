"""The shared emotion vocabulary and the label sets the models are trained on."""

from __future__ import annotations

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
