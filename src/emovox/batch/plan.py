"""What a batch job reads: its inputs as a stream of small Arrow tables (the plan), each file
stated (size, modification time) and checked against what the output folder already holds.

Inputs are folders, globs, ``@lists`` and manifests (CSV or Parquet with a ``path`` column;
other columns are carried into the output as text). A manifest is read in blocks, never
whole, so planning a million rows keeps the driver's memory flat."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from emovox.audio.files import iter_expanded

MANIFEST_SUFFIXES = (".csv", ".parquet")
PLAN_COLUMNS = ("path", "size", "mtime_ns", "done_sha256")
# with --adapt folder or column:NAME: each row's group (None: alone) and whether the output
# holds it as is
GROUP_COLUMNS = ("adapt_group", "unchanged")
CHUNK = 16  # rows per plan table by default: one Ray block, small to spread over workers


@dataclass(frozen=True)
class Seen:
    """An input the output folder already holds: its size, mtime and content hash then."""

    size: int | None
    mtime_ns: int | None
    sha256: str


def is_manifest(item: str) -> bool:
    return item.lower().endswith(MANIFEST_SUFFIXES) and Path(item).is_file()


def extra_columns(items: Sequence[str]) -> list[str]:
    """The manifests' columns besides ``path``, in order of first appearance; a manifest
    without ``path`` is a ValueError listing its columns."""
    out: list[str] = []
    for item in items:
        if not is_manifest(item):
            continue
        names = _manifest_names(item)
        if "path" not in names:
            raise ValueError(f"{item}: a manifest needs a 'path' column; it has {names}")
        out += [n for n in names if n != "path" and n not in out and n not in _RESERVED]
    return out


_RESERVED = set(PLAN_COLUMNS) | set(GROUP_COLUMNS) | {"sha256", "status", "run_id", "error", "data"}


def _manifest_names(item: str) -> list[str]:
    if item.lower().endswith(".parquet"):
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(item).schema_arrow.names)
    with open(item, newline="") as f:
        return next(csv.reader(f), [])


def grouping(adapt: str, extras: Sequence[str]):
    """The function giving a plan row's group under ``--adapt`` ("folder" or "column:NAME";
    None or "": read alone), or None when nothing is grouped ("recording", "none"); a column
    that no manifest has is a ValueError listing the columns there are."""
    if adapt in ("none", "recording"):
        return None
    if adapt == "folder":
        from emovox.infer.adapt import folder_of  # the folder emovox predict --adapt reads

        return lambda row: folder_of(row["path"])
    name = adapt.removeprefix("column:")
    if adapt.startswith("column:") and name:
        if name not in extras:
            has = ", ".join(extras) if extras else "none besides path (or no manifest was given)"
            raise ValueError(
                f"--adapt column:{name}: the manifests have no such column; their columns: {has}"
            )
        return lambda row: row.get(name) or None  # an empty cell: read alone
    raise ValueError(f"--adapt takes recording, folder, column:NAME or none, not {adapt!r}")


def inputs(items: Sequence[str]) -> Iterator[dict]:
    """Every input as ``{"path": ..., extra column: text}``, one at a time."""
    for item in items:
        if is_manifest(item):
            yield from _manifest_rows(item)
        else:
            for path in iter_expanded([item]):
                yield {"path": path}


def _manifest_rows(item: str) -> Iterator[dict]:
    """A manifest's rows, one at a time; relative paths are relative to its folder."""
    base = Path(item).parent
    for row in _manifest_dicts(item):
        path = row.pop("path", None)
        if path is None or str(path).strip() == "":
            continue
        path = str(path)
        if not os.path.isabs(path):
            path = str(base / path)
        yield {"path": path, **{k: None if v is None else str(v) for k, v in row.items()}}


def _manifest_dicts(item: str) -> Iterator[dict]:
    if item.lower().endswith(".parquet"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(item).iter_batches(batch_size=512):
            yield from batch.to_pylist()
        return
    # the csv module, not Arrow's streaming reader: its memory stays flat over any length
    with open(item, newline="") as f:
        yield from csv.DictReader(f)


def _stat(path: str) -> tuple[int | None, int | None, tuple[int, int] | None]:
    """(size, mtime in ns, (device, inode): the file whatever path reached it), or Nones for
    a file that is not there (reported later)."""
    try:
        st = os.stat(path)
    except OSError:
        return None, None, None
    return st.st_size, st.st_mtime_ns, (st.st_dev, st.st_ino)


def chunks(
    items: Sequence[str],
    seen: dict[str, Seen],
    extras: Sequence[str],
    size: int = CHUNK,
    group=None,
    duplicates: list[str] | None = None,
) -> Iterator[tuple[pa.Table, int]]:
    """(plan table, inputs skipped while making it) per ``size`` inputs to analyse. An
    input is skipped when the output holds its path with the same size and mtime; one whose
    path is held but changed carries the old hash, so that equal content is still skipped.
    With ``group`` (see :func:`grouping`) nothing is skipped here: each row carries its group
    and whether it is unchanged, since a group is decided whole or not at all. A file named
    again (the same path twice, or another path to it: a link, ``a/../b``) is planned as
    listed, each row with its own columns, and its path added to ``duplicates`` so that the
    command can say so. Finding them holds one integer per distinct file."""
    rows: list[dict] = []
    skipped = 0
    files: set[int] = set()  # each distinct file's (device, inode) as one integer
    for row in inputs(items):
        bytes_, mtime, inode = _stat(row["path"])
        if inode is not None:
            key = hash(inode)
            if key in files and duplicates is not None:
                duplicates.append(row["path"])
            files.add(key)
        old = seen.get(row["path"])
        unchanged = old is not None and (old.size, old.mtime_ns) == (bytes_, mtime)
        if unchanged and group is None:  # or still missing
            skipped += 1
            continue
        rows.append(
            {
                "path": row["path"],
                "size": bytes_,
                "mtime_ns": mtime,
                "done_sha256": old.sha256 if old else None,
                **{k: row.get(k) for k in extras},
                **({"adapt_group": group(row) or "", "unchanged": unchanged} if group else {}),
            }
        )
        if len(rows) == size:
            yield _table(rows, extras, group is not None), skipped
            rows, skipped = [], 0
    if rows or skipped:
        yield _table(rows, extras, group is not None), skipped


def schema(extras: Sequence[str], grouped: bool = False) -> pa.Schema:
    return pa.schema(
        [
            ("path", pa.string()),
            ("size", pa.int64()),
            ("mtime_ns", pa.int64()),
            ("done_sha256", pa.string()),
            *[(k, pa.string()) for k in extras],
            *(zip(GROUP_COLUMNS, (pa.string(), pa.bool_()), strict=True) if grouped else ()),
        ]
    )


def _table(rows: list[dict], extras: Sequence[str], grouped: bool) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema(extras, grouped))
