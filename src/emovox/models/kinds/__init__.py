"""The model kinds, one module each (:class:`emovox.models.kind.ModelKind`)."""
