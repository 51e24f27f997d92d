"""Corpora and what is done with them: reading corpus folders into manifests
(:mod:`.corpora`), the label sets, evaluation protocols, several corpora at once, decoded and
cached clips for training (:mod:`.clips`), and recordings with known truth (:mod:`.demo`).
``emovox.data.X`` still finds the clip helpers' names, loaded on first use (torch)."""

from pathlib import Path

from emovox.store.legacy import forward_names

__getattr__ = forward_names("emovox.data", "emovox.data.clips", str(Path(__file__).parent))
