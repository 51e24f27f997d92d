"""Corpora and what is done with them: reading corpus folders into manifests
(:mod:`.corpora`), the label sets, evaluation protocols, several corpora at once, decoded and
cached clips for training (:mod:`.clips`), and recordings with known truth (:mod:`.demo`)."""
