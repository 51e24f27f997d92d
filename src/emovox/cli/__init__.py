"""The ``emovox`` command: its parser and the training and data commands (:mod:`.commands`),
predict and demo (:mod:`.predict`), serve (:mod:`.serve`)."""

from emovox.cli.commands import main

__all__ = ["main"]
