"""One option for adaptation in every command: ``--adapt TO``, the words of
:data:`emovox.infer.analyzer.ADAPT` (batch adds ``column:NAME``), and ``--prior`` for the class
prior a folder or group is read under. 0.5's ``--adapt-by`` and
``--no-adapt`` still work, with a warning, until 0.7."""

from __future__ import annotations

import argparse
import sys

from emovox.infer.config import ADAPT, ADAPT_HELP, PRIOR_HELP, PRIORS

COLUMN_HELP = "; column:NAME: the same per value of a manifest column (an empty cell: alone)"


def add_options(parser: argparse.ArgumentParser, column: bool = False) -> None:
    """``--adapt`` and the hidden old spellings."""
    parser.add_argument(
        "--adapt", default=None, metavar="TO", help=ADAPT_HELP + (COLUMN_HELP if column else "")
    )
    parser.add_argument("--prior", default=PRIORS[0], choices=PRIORS, help=PRIOR_HELP)
    parser.add_argument("--adapt-by", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--no-adapt", action="store_true", help=argparse.SUPPRESS)


def chosen(args: argparse.Namespace, column: bool = False) -> str:
    """What ``--adapt`` (or an old spelling, warned about) says; a ValueError for other words."""
    to = args.adapt
    if args.no_adapt or args.adapt_by is not None:
        print(
            "emovox: warning: --adapt-by and --no-adapt are now --adapt TO (recording, folder, "
            "none); they go in 0.7",
            file=sys.stderr,
        )
        old = "none" if args.no_adapt else args.adapt_by.replace("column=", "column:")
        to = to or old
    to = to or "recording"
    if to in ADAPT or (column and to.startswith("column:") and len(to) > len("column:")):
        return to
    words = ", ".join(ADAPT + (("column:NAME",) if column else ()))
    raise ValueError(f"--adapt takes {words}, not {to!r}")


def joined(argv: list[str]) -> list[str]:
    """0.5's ``--adapt-by column NAME`` as one word, ``column:NAME``, so that the option never
    swallows the inputs after it (``--adapt-by folder clips/``)."""
    out, k = [], 0
    while k < len(argv):
        if argv[k] == "--adapt-by" and argv[k + 1 : k + 2] == ["column"] and k + 2 < len(argv):
            out += ["--adapt-by", f"column:{argv[k + 2]}"]
            k += 3
        else:
            out.append(argv[k])
            k += 1
    return out
