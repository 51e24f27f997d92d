"""emovox: speech emotion recognition you can trust.

The public API::

    import emovox
    model = emovox.load_model()            # the bundled model; or a run / model folder
    result = model.predict("talk.m4a")     # a clip result, or a timeline for long audio
    result.emotion, result.segments        # None when there is no speech or it is unsure
    model.predict(wave, sr=44100)          # waves need their sample rate
    probs = model.predict_waves([wave16k]) # (clips, classes) for 16 kHz clips as they are

``import emovox`` loads neither torch nor scikit-learn; :func:`load_model` picks the NumPy
predictor when the model allows it (fast start) and the torch one otherwise.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
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
    predictor = None
    if device == "cpu" and engine != "torch":
        from emovox.infer import numpy_engine

        predictor = numpy_engine.load(path)
        if predictor is None and engine == "numpy":
            raise ValueError(numpy_engine.why_not(path))
    if predictor is None:
        from emovox.infer.torch_engine import Predictor

        predictor = Predictor.load(path, _checked_device(device))
    return Analyzer(predictor, config)


def _checked_device(device: str) -> str:
    """``device`` if torch can use it here, else a ValueError that says what is available."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} is not available: this torch build sees no CUDA GPU "
            "(use --device cpu)"
        )
    return device


# --- old import paths -----------------------------------------------------------------
# 0.2's flat modules moved into subpackages by job in 0.3. ``import emovox.infer.torch_engine`` and
# ``from emovox import lite`` keep working for this release: the old name is the new module
# (the same object, so patching either patches both), with a DeprecationWarning.
_MOVED = {
    "atomic": "store.atomic", "integrity": "store.integrity", "legacy": "store.legacy",
    "cache": "store.cache", "typed": "store.typed", "runs": "store.runs",
    "checkpoint": "store.checkpoint", "vad": "audio.vad", "frontend": "audio.frontend",
    "degrade": "audio.degrade", "augment": "audio.augment", "filters": "audio.filters",
    "feature_ops": "features.ops", "models.pooling": "features.pooling",
    "corpora": "data.corpora", "labels": "data.labels", "protocols": "data.protocols",
    "multicorpus": "data.multicorpus", "demo": "data.demo", "ensemble": "models.ensemble",
    "inference": "infer.torch_engine", "lite": "infer.numpy_engine",
    "predict": "infer.analyzer", "timeline": "infer.timeline", "plots": "infer.plots",
    "formats": "infer.formats", "result": "infer.result", "palette": "infer.palette",
    "metrics": "evaluation.metrics", "evaluate": "evaluation.evaluate",
    "analyze": "evaluation.importance", "config": "train.config",
    "prepare": "train.prepare", "experiments": "train.experiments",
    "runtime": "train.runtime", "cli_audio": "cli.predict",
}  # fmt: skip


class _OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        old = fullname.removeprefix("emovox.")
        if fullname == old or old not in _MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = f"emovox.{_MOVED[spec.name.removeprefix('emovox.')]}"
        warnings.warn(
            f"{spec.name} is now {new}; the old path goes in the next release",
            DeprecationWarning,
            stacklevel=4,
        )
        return importlib.import_module(new)

    def exec_module(self, module) -> None:
        pass  # the new module ran when it was imported


sys.meta_path.append(_OldPaths())
