"""Training: the typed config, a run's data, the loop, ensembles and cross-validation, devices
and processes. ``emovox.train.train`` and the loop's other names load on first use."""

from pathlib import Path


def __getattr__(name: str):
    # the names of the old flat module, loaded on first use; submodules are the import
    # system's to find (answering for them here would load torch for nothing)
    if name.startswith("__") or (Path(__file__).parent / f"{name}.py").exists():
        raise AttributeError(name)
    import importlib

    module = importlib.import_module("emovox.train.loop")
    try:
        return getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module 'emovox.train' has no attribute {name!r}") from None
