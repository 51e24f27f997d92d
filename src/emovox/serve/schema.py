"""The service's answers as typed models, so its OpenAPI schema says what each response holds
(the keys of :class:`emovox.infer.analyzer.Result`, and the error codes with their causes)."""

from __future__ import annotations

from pydantic import BaseModel


class SegmentOut(BaseModel):
    start: float
    end: float
    emotion: str | None
    confidence: float
    probabilities: dict[str, float]
    reason: str | None = None
    arousal: float | None = None  # in [-1, 1]: the arousal head's, or from the probabilities
    valence: float | None = None
    speaker: str | None = None  # S1, S2, ...: with speakers= (a recording split by voice)


class SummaryOut(BaseModel):
    duration: float
    speech_duration: float
    dominant_emotion: str | None
    share: dict[str, float]


class Answer(BaseModel):
    """What ``emovox predict --format json`` gives for the file, and the model's id."""

    path: str
    emotion: str | None
    confidence: float | None
    probabilities: dict[str, float] | None
    arousal: float | None
    valence: float | None
    speech: bool | None
    reason: str | None
    detail: str | None
    duration: float | None
    segments: list[SegmentOut]
    summary: SummaryOut | None
    adapted: str | None = None  # what the model was adapted to (None: the input alone)
    prior: dict[str, float] | None = None  # the group's class prior, where it was estimated
    warnings: list[str]
    error: str | None = None  # why the input could not be read (then the rest is null)
    model: str


class Answers(BaseModel):
    """``/v1/predict_many``: one entry per upload, in order, each with every key of an
    answer (an upload that cannot be read: ``error`` set, the others still answered)."""

    answers: list[Answer]
    model: str


class ModelCard(BaseModel):
    kind: str | None
    encoder: str | None
    members: int
    trained_on: list[str]
    protocol: str | None
    test_accuracy: float | None
    evaluation: dict | None


class ModelInfo(BaseModel):
    id: str
    card: ModelCard
    labels: list[str]
    version: str


class Problem(BaseModel):
    detail: str


ERRORS = {
    401: {"model": Problem, "description": "missing or wrong X-API-Key (when the server has one)"},
    413: {
        "model": Problem,
        "description": "upload over --max-upload-mb, or audio over --max-seconds",
    },
    415: {"model": Problem, "description": "not audio, or corrupt"},
    422: {"model": Problem, "description": "empty, too short or NaN audio; no file"},
    500: {
        "model": Problem,
        "description": "an unexpected error in emovox (a bug: please report it)",
    },
    429: {
        "model": Problem,
        "description": "more than --max-pending requests at once (Retry-After)",
    },
}
