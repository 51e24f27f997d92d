"""Handcrafted frame features (:mod:`.handcrafted`, at librosa parity), their numerical
kernels (:mod:`.ops`), their settings (:mod:`.config`) and statistics pooling (:mod:`.pooling`).
``emovox.features.X`` still finds the extractor's names, loaded on first use (torch)."""

from pathlib import Path

from emovox.store.legacy import forward_names

__getattr__ = forward_names(
    "emovox.features", "emovox.features.handcrafted", str(Path(__file__).parent)
)
