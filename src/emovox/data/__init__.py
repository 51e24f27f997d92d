"""Corpora and what is done with them: reading corpus folders into manifests
(:mod:`.corpora`), the label sets, evaluation protocols, several corpora at once, decoded and
cached clips for training (:mod:`.clips`), and recordings with known truth (:mod:`.demo`).
``emovox.data.X`` still finds the clip helpers' names, loaded on first use (torch)."""

from pathlib import Path


def __getattr__(name: str):
    # the names of the old flat module, loaded on first use; submodules are the import
    # system's to find (answering for them here would load torch for nothing)
    if name.startswith("__") or (Path(__file__).parent / f"{name}.py").exists():
        raise AttributeError(name)
    import importlib

    module = importlib.import_module("emovox.data.clips")
    try:
        return getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module 'emovox.data' has no attribute {name!r}") from None
