"""Which files a command reads: folders, globs and ``@lists`` expanded to audio file paths,
in one place for ``emovox predict`` and ``emovox batch``."""

from __future__ import annotations

import glob
from collections.abc import Iterator, Sequence
from pathlib import Path

from emovox.audio.decode import AUDIO_SUFFIXES


def expand(items: Sequence[str]) -> list[str]:
    """Files as given; folders (recursively, audio extensions only) and quoted globs expanded
    in sorted order; ``@list.txt`` read one path per line; ``-`` kept (standard input)."""
    return list(iter_expanded(items))


def iter_expanded(items: Sequence[str]) -> Iterator[str]:
    """:func:`expand`, one path at a time (an archive's listing need not fit in memory)."""
    for item in items:
        if item == "-":
            yield item
        elif item.startswith("@") and not Path(item).exists():
            yield from iter_expanded(list(_listed(item)))
        elif Path(item).is_dir():
            # a link whose file is gone is listed too: its error says so, where skipping it
            # would lose an input without a word
            yield from sorted(
                str(p)
                for p in Path(item).rglob("*")
                if p.suffix.lower() in AUDIO_SUFFIXES and (p.is_file() or p.is_symlink())
            )
        elif glob.has_magic(item) and not Path(item).exists():
            yield from sorted(glob.glob(item, recursive=True)) or [item]
        else:
            yield item


def _listed(item: str) -> Iterator[str]:
    try:
        with open(item[1:]) as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise ValueError(f"{item}: cannot read the list {item[1:]!r}: {exc.strerror}") from None
    return (ln.strip() for ln in lines if ln.strip() and not ln.startswith("#"))
