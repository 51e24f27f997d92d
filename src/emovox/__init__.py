"""emovox: speech emotion recognition you can trust.

The public API::

    import emovox
    model = emovox.load_model()            # the bundled model; or a run / model folder
    probs = model.predict_waves([wave])    # (clips, classes), 16 kHz mono float32 waves
    dict(zip(model.labels, probs[0]))

``import emovox`` loads neither torch nor scikit-learn; :func:`load_model` picks the NumPy
predictor when the model allows it (fast start) and the torch one otherwise.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from emovox.audio import AudioError, load

if TYPE_CHECKING:
    from emovox.inference import Predictor
    from emovox.lite import LitePredictor

try:
    __version__ = version("emovox")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["AudioError", "__version__", "load", "load_model"]


def load_model(path: str | Path | None = None, device: str = "cpu") -> LitePredictor | Predictor:
    """A predictor for a model folder, run folder or ensemble run (default: the bundled model).

    On the CPU, a model the NumPy predictor can run (frozen encoder, mean+std pooled) loads
    without torch; anything else, or ``device`` "cuda"/"cuda:1"..., loads the torch predictor.
    Both have ``labels`` and ``predict_waves(waves) -> (n, classes)`` probabilities.
    """
    if device == "cpu":
        from emovox import lite

        predictor = lite.load(path)
        if predictor is not None:
            return predictor
    from emovox.inference import Predictor

    return Predictor.load(path, _checked_device(device))


def _checked_device(device: str) -> str:
    """``device`` if torch can use it here, else a ValueError that says what is available."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} is not available: this torch build sees no CUDA GPU "
            "(use --device cpu)"
        )
    return device
