"""emovox: speech emotion recognition you can trust.

The public API::

    import emovox
    model = emovox.load_model()            # the bundled model; or a run / model folder
    result = model.predict("talk.m4a")     # a clip result, or a timeline for long audio
    result.emotion, result.segments        # None when there is no speech or it is unsure
    model.predict(wave, sr=44100)          # waves need their sample rate
    probs = model.predict_waves([wave16k]) # (clips, classes) for 16 kHz clips as they are

``import emovox`` loads neither torch nor scikit-learn; :func:`load_model` picks the NumPy
engine when the model allows it (fast start) and the torch one otherwise.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from emovox.audio import SAMPLE_RATE, AudioError, load
from emovox.infer.result import Result, Segment

if TYPE_CHECKING:
    from emovox.infer.analyzer import AnalysisConfig, Analyzer

try:
    __version__ = version("emovox")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "SAMPLE_RATE",
    "AudioError",
    "Result",
    "Segment",
    "__version__",
    "load",
    "load_model",
]


def load_model(
    path: str | Path | None = None,
    device: str = "cpu",
    config: AnalysisConfig | None = None,
    engine: str = "auto",
) -> Analyzer:
    """A model folder, run folder or ensemble run (default: the bundled model), ready to
    analyse recordings: ``predict(path_or_wave, sr=None)`` gives typed results.

    ``engine``: "numpy" runs models that allow it (frozen encoder, mean+std pooled: the bundled
    model's kind) without importing torch, the fastest start; "torch" batches, the fastest
    through many or long recordings; "auto" is numpy on the CPU when the model allows it.
    A ``device`` other than "cpu" needs torch.
    """
    from emovox.infer.analyzer import Analyzer

    if engine not in ("auto", "numpy", "torch"):
        raise ValueError(f"engine must be auto, numpy or torch, not {engine!r}")
    found = None
    if device == "cpu" and engine != "torch":
        from emovox.infer import numpy_engine

        found = numpy_engine.load(path)
        if found is None and engine == "numpy":
            raise ValueError(numpy_engine.why_not(path))
    if found is None:
        from emovox.infer import torch_engine

        found = torch_engine.load(path, _checked_device(device))
    return Analyzer(found, config)


def _checked_device(device: str) -> str:
    """``device`` if torch can use it here, else a ValueError that says what is available."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} is not available: this torch build sees no CUDA GPU "
            "(use --device cpu)"
        )
    return device
