"""Handcrafted frame features (:mod:`.handcrafted`, at librosa parity), their numerical
kernels (:mod:`.ops`), their settings (:mod:`.config`) and statistics pooling (:mod:`.pooling`).
``emovox.features.X`` still finds the extractor's names, loaded on first use (torch)."""

from pathlib import Path


def __getattr__(name: str):
    # the names of the old flat module, loaded on first use; submodules are the import
    # system's to find (answering for them here would load torch for nothing)
    if name.startswith("__") or (Path(__file__).parent / f"{name}.py").exists():
        raise AttributeError(name)
    import importlib

    module = importlib.import_module("emovox.features.handcrafted")
    try:
        return getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module 'emovox.features' has no attribute {name!r}") from None
