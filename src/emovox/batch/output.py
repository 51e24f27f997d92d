"""A batch job's output folder, the only module that spells its layout::

    DIR/results/part-<key>.parquet    one row per input: answer, probabilities, error
    DIR/segments/part-<key>.parquet   with --segments: one row per segment
    DIR/summary.json                  counts, hours of audio, wall time, throughput
    DIR/ray.log                       what Ray itself printed (its logs and warnings)

Each part is written whole (a temporary file, then a rename) and named by the inputs it holds
(their paths and content hashes), so a write repeated after a worker died replaces its part
instead of adding rows twice; a rerun reads the parts back to skip what is done."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from emovox.batch.plan import Seen
from emovox.infer.result import Result
from emovox.store.atomic import atomic_write, write_json

RESULTS, SEGMENTS, SUMMARY = "results", "segments", "summary.json"
RAY_LOG = "ray.log"  # what Ray itself printed during the jobs run here (appended)
STATUSES = ("done", "failed", "vanished", "changed")  # changed: read, but not as planned


def result_schema(labels: Sequence[str], extras: Sequence[str], segments: bool) -> pa.Schema:
    """The results table's columns (``segments``: the segment rows as JSON, in flight only)."""
    fields = [
        ("path", pa.string()),
        ("sha256", pa.string()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("status", pa.string()),
        ("run_id", pa.string()),
        ("duration", pa.float64()),
        ("speech", pa.bool_()),
        ("emotion", pa.string()),
        ("reason", pa.string()),
        ("confidence", pa.float64()),
        ("arousal", pa.float64()),
        ("valence", pa.float64()),
        *[(f"p_{label}", pa.float64()) for label in labels],
        ("adapted", pa.string()),
        *[(f"prior_{label}", pa.float64()) for label in labels],  # the group's, if estimated
        ("warnings", pa.string()),
        ("error", pa.string()),
        *[(k, pa.string()) for k in extras],
    ]
    if segments:
        fields.append(("segments", pa.string()))
    return pa.schema(fields)


def result_row(result: Result, labels: Sequence[str], segments: bool) -> dict:
    """One input's answer as a results row (its identity columns are added by the caller)."""
    probs, prior = result.probabilities or {}, result.prior or {}
    row = {
        "duration": result.duration,
        "speech": result.speech,
        "emotion": result.emotion,
        "reason": result.reason,
        "confidence": result.confidence,
        "arousal": result.arousal,
        "valence": result.valence,
        **{f"p_{label}": probs.get(label) for label in labels},
        "adapted": result.adapted,
        **{f"prior_{label}": prior.get(label) for label in labels},
        "warnings": "; ".join(result.warnings) or None,
        "error": result.error,
    }
    if segments:
        row["segments"] = json.dumps([s.to_dict() for s in result.segments or []])
    return row


def part_name(paths: Sequence[str], hashes: Sequence[str | None]) -> str:
    """A part's file name from the inputs it holds: the same inputs, the same name."""
    keys = sorted(f"{p}\0{h}" for p, h in zip(paths, hashes, strict=True))
    return "part-" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:24] + ".parquet"


def write_part(out: Path, table: pa.Table) -> int:
    """``table`` (results rows, maybe with a ``segments`` column) as one results part and,
    when it has segments, one segments part; the number of rows written."""
    import pyarrow.parquet as pq

    if table.num_rows == 0:
        return 0
    name = part_name(table.column("path").to_pylist(), table.column("sha256").to_pylist())
    if "segments" in table.column_names:
        segs = _segment_table(table)
        table = table.drop_columns(["segments"])
        # segments first: a results row is what marks an input done
        atomic_write(out / SEGMENTS / name, lambda tmp: pq.write_table(segs, tmp))
    atomic_write(out / RESULTS / name, lambda tmp: pq.write_table(table, tmp))
    return table.num_rows


def _segment_table(table: pa.Table) -> pa.Table:
    rows = []
    for path, sha, run_id, segs in zip(
        *(table.column(c).to_pylist() for c in ("path", "sha256", "run_id", "segments")),
        strict=True,
    ):
        for k, s in enumerate(json.loads(segs) if segs else []):
            probs = s.pop("probabilities") or {}
            rows.append(
                {
                    "path": path,
                    "sha256": sha,
                    "run_id": run_id,
                    "index": k,
                    **s,
                    **{f"p_{lab}": v for lab, v in probs.items()},
                }
            )
    return pa.Table.from_pylist(rows) if rows else pa.table({"path": pa.array([], pa.string())})


def parts(out: Path, table: str = RESULTS) -> list[Path]:
    return sorted((Path(out) / table).glob("part-*.parquet"))


def read(out: Path, columns: Sequence[str] | None = None, table: str = RESULTS) -> pa.Table:
    """Every part of ``table`` in ``out`` as one table (empty when there is none)."""
    import pyarrow.parquet as pq

    found = parts(out, table)
    if not found:
        return pa.table({c: pa.array([], pa.string()) for c in columns or ["path"]})
    return pa.concat_tables(
        [pq.read_table(p, columns=list(columns) if columns else None) for p in found],
        promote_options="permissive",
    )


def seen(out: Path) -> dict[str, Seen]:
    """What ``out`` already holds, by path (the latest part wins for a path analysed twice
    with different content)."""
    done = read(out, ["path", "size", "mtime_ns", "sha256"])
    return {
        r["path"]: Seen(r.get("size"), r.get("mtime_ns"), r.get("sha256")) for r in done.to_pylist()
    }


def summary(
    out: Path,
    run_id: str,
    planned: int,
    skipped: int,
    seconds: float,
    duplicates: Sequence[str] = (),
) -> dict:
    """Counts of this run's rows by status, hours of audio, wall time, throughput, and the
    inputs that named a file listed before (by the same path or another); written."""
    rows = read(out, ["run_id", "status", "duration"]).to_pylist()
    mine = [r for r in rows if r["run_id"] == run_id]
    counts = {s: sum(r["status"] == s for r in mine) for s in STATUSES}
    hours = sum(r["duration"] or 0.0 for r in mine) / 3600
    s = {
        "run_id": run_id,
        "written": len(mine),
        **counts,
        "skipped": skipped + max(planned - len(mine), 0),
        "total_rows": len(rows),
        "duplicates": len(duplicates),
        "duplicate_examples": list(duplicates[:3]),
        "hours_of_audio": round(hours, 4),
        "wall_seconds": round(seconds, 2),
        "audio_hours_per_hour": round(hours * 3600 / seconds, 2) if hours and seconds else None,
    }
    # the throughput a dry run estimates from: this run's, else the last one that analysed
    s["measured_audio_hours_per_hour"] = s["audio_hours_per_hour"] or _previous(out)
    write_json(s, Path(out) / SUMMARY)
    return s


def _previous(out: Path) -> float | None:
    try:
        return json.loads((Path(out) / SUMMARY).read_text()).get("measured_audio_hours_per_hour")
    except (OSError, ValueError):
        return None
