"""Training: the typed config, a run's data, the loop, ensembles and cross-validation, devices
and processes. ``emovox.train.train`` and the loop's other names load on first use."""

from pathlib import Path

from emovox.store.legacy import forward_names

__getattr__ = forward_names("emovox.train", "emovox.train.loop", str(Path(__file__).parent))
