"""The batch job on Ray Data: plan -> read and hash (CPU tasks) -> analyse and write (an actor
pool, one loaded model per actor, GPUs where the cluster has them, each batch's Parquet part
written as it is made). Ray is an optional extra; this is the one module that imports it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import pyarrow as pa
import pyarrow.compute as pc

from emovox.batch import output, plan, require

BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class BatchConfig:
    """What one ``emovox batch`` job does."""

    inputs: list[str]
    out: Path
    address: str | None = None  # None: Ray started here for the job; "auto" or host:port
    workers: int = 0  # actors analysing at once; 0: one per CPU of the cluster
    batch_size: int = 16  # inputs per actor call (the model batches clips within it)
    segments: bool = False
    model: str | None = None  # model folder; None: the bundled model
    engine: str = "torch"
    cpus_per_worker: int = 0  # 0: the cluster's CPUs shared out (at most one node's)
    gpus_per_worker: float = 0.0  # >0: actors on GPUs (device cuda), this share of one each
    analysis: dict = field(default_factory=dict)  # AnalysisConfig as keyword arguments
    # what inputs adapt to: "recording", "none", or grouped, "folder" or "column:NAME" (inputs
    # of one group read against one reference voice)
    adapt: str = "recording"


class Interrupted(Exception):
    """Ctrl-C during a job: every part written so far stays, and a rerun resumes after it;
    ``summary`` is the job's so far."""

    def __init__(self, summary: dict) -> None:
        super().__init__("interrupted")
        self.summary = summary


def run(cfg: BatchConfig, progress: bool = True) -> dict:
    """Run the job (resuming whatever ``cfg.out`` holds); its summary. Ray's own output goes
    to ``cfg.out``'s log file, emovox's progress to the terminal. Raises :class:`Interrupted`
    on Ctrl-C."""
    require()
    import ray
    import ray.data  # noqa: F401 - Ray Data registers itself on ray

    started = time.time()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    labels = _labels(cfg.model)
    extras = plan.extra_columns(cfg.inputs)
    group = plan.grouping(cfg.adapt, extras)
    seen = output.seen(out)
    refs, planned, skipped, live, duplicates = [], 0, 0, set(), []
    run_id = uuid.uuid4().hex[:12]
    with _quiet(out) as terminal:
        _connect(ray, cfg.address)
        for table, n_skipped in plan.chunks(
            cfg.inputs, seen, extras, cfg.batch_size, group, duplicates
        ):
            skipped += n_skipped
            if table.num_rows:
                refs.append(ray.put(table))  # the plan lives in the object store, not the driver
                planned += table.num_rows
                if group:  # the groups with something new: only they are decided (again)
                    new = table.filter(pc.invert(table["unchanged"]))
                    live.update(new.column("adapt_group").to_pylist())
        bar = terminal if progress else None
        try:
            if refs:
                job = (refs, planned, run_id)
                _execute(ray, cfg, job, labels, extras, bar, live if group else None)
        except KeyboardInterrupt:
            summary = output.summary(out, run_id, planned, skipped, time.time() - started)
            raise Interrupted(summary | {"planned": planned}) from None
    summary = output.summary(out, run_id, planned, skipped, time.time() - started, duplicates)
    return summary | {"planned": planned}


@contextlib.contextmanager
def _quiet(out: Path) -> Iterator[TextIO]:
    """Ray's own output (its log lines and warnings, its workers' errors, C++ and Python alike,
    all written to file descriptor 2) into the output folder's log file for the length of the
    job; the stream it yields is the terminal's, for what emovox says."""
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = os.fdopen(os.dup(saved), "w", buffering=1)
    log = open(out / output.RAY_LOG, "ab")  # noqa: SIM115 - closed below, after fd 2 is back
    os.dup2(log.fileno(), 2)
    try:
        yield terminal
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        log.close()
        terminal.close()


def _connect(ray, address: str | None) -> None:
    import logging

    if ray.is_initialized():
        return
    kwargs = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(include_dashboard=False, **kwargs)


def _execute(ray, cfg: BatchConfig, job, labels, extras, terminal, live) -> None:
    """The job's plan blocks through Ray Data; ``job``: (plan refs, inputs planned, run id)."""
    refs, total, run_id = job
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # Ray's bars count blocks and stages: ours counts inputs
    ctx.print_on_execution_start = False
    # a block per batch of inputs: Ray Data would otherwise merge read blocks up to 128 MiB,
    # so one actor would get the whole of a small job and results would be written at its end
    ctx.target_max_block_size = BLOCK_BYTES
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    workers = cfg.workers or cpus
    # fewer workers than CPUs: each gets its share, so one long recording still uses them all
    # (Ray sets the actor's thread count, OMP_NUM_THREADS, from its CPUs)
    largest = max(int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n["Alive"])
    share = {"num_cpus": cfg.cpus_per_worker or max(1, min(cpus // workers, largest))}
    analysis_res = {"num_gpus": cfg.gpus_per_worker} if cfg.gpus_per_worker else share
    ds = ray.data.from_arrow_refs(refs)
    actor = {
        "fn_constructor_kwargs": {
            "model": cfg.model,
            "engine": cfg.engine,
            "device": "cuda" if cfg.gpus_per_worker else "cpu",
            # grouped inputs come with their groups (predict(groups=)); the rest as said
            # a group's prior needs the whole group: ungrouped batches read under the model's
            "analysis": {**cfg.analysis, **_actor_analysis(cfg.adapt, live is not None)},
            "schema": output.result_schema(labels, extras, cfg.segments),
            "run_id": run_id,
            "out": str(cfg.out),
        },
        "compute": ray.data.ActorPoolStrategy(size=workers),
        "batch_format": "pyarrow",
        **analysis_res,
    }
    if live is not None:
        # a group is one call. The plan rows (paths, not audio) are sorted by group before any
        # actor exists (Ray's shuffle tasks would otherwise wait for CPUs the actors hold),
        # then cut into one block per group; the actor reads the group's files as it goes
        tables = list(_group_blocks(ds.sort("adapt_group"), live, cfg.batch_size))
        if not tables:
            return
        total = sum(t.num_rows for t in tables)
        ds = ray.data.from_arrow_refs([ray.put(t) for t in tables])
        ds = ds.map_batches(AnalyseGroup, batch_size=None, **actor)
    else:
        # reading and hashing is I/O: it takes no CPU slot, so it never waits behind the actors;
        # as many readers as actors at once (a task with no CPU is otherwise started for every
        # block at once: a worker process each, which stalls a small machine)
        ds = ds.map_batches(
            read_and_hash,
            batch_format="pyarrow",
            batch_size=None,
            num_cpus=0,
            concurrency=max(1, workers),
        )
        ds = ds.map_batches(Analyse, batch_size=cfg.batch_size, **actor)
    # the actors write their own parts: a separate write stage would need CPUs the actors
    # hold (and so wait for the last batch) or start processes of its own
    with _bar(terminal, total) as advance:
        for done in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            advance(done.num_rows)


@contextlib.contextmanager
def _bar(terminal: TextIO | None, total: int):
    """A progress bar of inputs answered, on the terminal (none when ``terminal`` is None)."""
    if terminal is None:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = ("analysing", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(file=terminal), transient=True) as progress:
        task = progress.add_task("inputs", total=total)
        yield lambda n: progress.advance(task, n)


def read_one(row: dict) -> tuple[bytes | None, str | None, str, str | None]:
    """A planned input's (bytes or None, SHA-256, status, read error)."""
    import os

    try:
        with open(row["path"], "rb") as f:
            blob = f.read()
        st = os.stat(row["path"])
    except FileNotFoundError:
        was = "it vanished after the job was planned" if row["size"] is not None else ""
        return None, None, "vanished", f"no such file{': ' + was if was else ''}"
    except OSError as exc:
        return None, None, "failed", f"cannot read: {exc.strerror or exc}"
    changed = (row["size"], row["mtime_ns"]) != (st.st_size, st.st_mtime_ns)
    return blob, hashlib.sha256(blob).hexdigest(), "changed" if changed else "done", None


def read_and_hash(table: pa.Table) -> pa.Table:
    """Each planned input's bytes, SHA-256 and status; inputs whose content the output already
    holds (same path, same hash) are marked ``held`` and carry no bytes: the actor passes
    them on unanswered, so that every planned input is counted once."""
    data, hashes, status, errors, held = [], [], [], [], []
    for row in table.select(["path", "size", "mtime_ns", "done_sha256"]).to_pylist():
        blob, digest, state, error = read_one(row)
        held.append(digest is not None and digest == row["done_sha256"])
        data.append(None if held[-1] else blob)
        hashes.append(digest)
        status.append(state)
        errors.append(error)
    table = table.drop_columns(["done_sha256"])
    table = table.append_column("data", pa.array(data, pa.large_binary()))
    table = table.append_column("sha256", pa.array(hashes, pa.string()))
    table = table.append_column("status", pa.array(status, pa.string()))
    table = table.append_column("read_error", pa.array(errors, pa.string()))
    return table.append_column("held", pa.array(held, pa.bool_()))


class Analyse:
    """One actor: the model loaded once, then batches of read inputs -> results rows."""

    def __init__(
        self, model, engine, device, analysis, schema: pa.Schema, run_id: str, out: str
    ) -> None:
        import emovox
        from emovox.infer.analyzer import AnalysisConfig

        self.model = emovox.load_model(model, device, AnalysisConfig(**analysis), engine)
        self.labels, self.schema, self.run_id = self.model.labels, schema, run_id
        self.segments = "segments" in schema.names
        self.out = Path(out)

    def __call__(self, table: pa.Table) -> pa.Table:
        rows = table.drop_columns(["data"]).to_pylist()
        blobs = table.column("data").to_pylist()
        readable = [k for k, b in enumerate(blobs) if b is not None]
        answers = self._answers([blobs[k] for k in readable], [rows[k]["path"] for k in readable])
        return self._write(rows, dict(zip(readable, answers, strict=True)))

    def _answers(self, blobs: list[bytes], paths: list[str]) -> list:
        """A result per input; should the batch raise, each input alone, so that a failure
        is one ``failed`` row and the rest of its batch is still written."""
        from emovox.infer.result import internal_error

        try:
            return list(self.model.predict_many(blobs))
        except Exception:  # noqa: BLE001 - found input by input below
            out = []
            for blob, path in zip(blobs, paths, strict=True):
                try:
                    out.append(self.model.predict(blob))
                except Exception as exc:  # noqa: BLE001 - this input's error, not the job's
                    out.append(internal_error(path, exc))
            return out

    def _write(self, rows: list[dict], results: dict) -> pa.Table:
        """The results rows of ``rows`` (answers by row index; an unread row gets its read
        error; a ``held`` one, already in the output, is passed on unwritten) written as one
        part; the paths and statuses of all of them."""
        from emovox.infer.result import Result

        out, statuses = [], []
        for k, row in enumerate(rows):
            if row.get("held"):
                statuses.append("held")
                continue
            result = results.get(k) or Result(row["path"], error=row["read_error"])
            answer = output.result_row(result, self.labels, self.segments)
            status = "failed" if result.error and row["status"] != "vanished" else row["status"]
            out.append({**row, **answer, "status": status, "run_id": self.run_id})
            statuses.append(status)
        names = self.schema.names
        table = pa.Table.from_pylist([{n: r.get(n) for n in names} for r in out], self.schema)
        # written here, whole, the moment it is made: a repeat of this call after the actor
        # died writes the same part under the same name
        output.write_part(self.out, table)
        paths = [row["path"] for row in rows]
        return pa.table({"path": pa.array(paths, pa.string()), "status": statuses})


def _group_blocks(ds, live: set, size: int):
    """A dataset sorted by group as one table per group with something new in it (``live``);
    rows without a group (key "") in tables of ``size``, the ones the output holds left out."""
    held: list[pa.Table] = []  # the pieces of the group ``key``, so far
    key = None

    def finished():
        table = pa.concat_tables(held)
        if key == "":
            table = table.filter(pc.invert(table["unchanged"]))
            yield from (table.slice(i, size) for i in range(0, table.num_rows, size))
        elif key in live:
            yield table

    for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        keys = batch.column("adapt_group").to_pylist()
        start = 0
        for i in range(1, len(keys) + 1):
            if i == len(keys) or keys[i] != keys[start]:
                if held and keys[start] != key:
                    yield from finished()
                    held.clear()
                key = keys[start]
                held.append(batch.slice(start, i - start))
                start = i
    if held:
        yield from finished()


class AnalyseGroup(Analyse):
    """One actor for ``--adapt folder`` or ``column:NAME``: a whole group per call, its clips
    read against the group's own reference voice (rows with no group are read alone, as
    :class:`Analyse` would)."""

    def __call__(self, table: pa.Table) -> pa.Table:
        rows = table.drop_columns(["adapt_group", "unchanged"]).to_pylist()
        key = table.column("adapt_group")[0].as_py()
        reader = _Reader(rows)
        answers = list(self.model.predict_many(reader, groups=[key or None] * len(rows)))
        for row, (digest, status, error) in zip(rows, reader.read, strict=True):
            row.update(sha256=digest, status=status, read_error=error)
        readable = {k: r for k, r in enumerate(answers) if rows[k]["read_error"] is None}
        return self._write(rows, readable)


class _Reader(Sequence):
    """A group's files, each read (and hashed) only when the analyser comes to it, so a group
    of thousands of clips never holds more than one file's bytes; an unreadable file reads as
    no bytes (its row gets the read error instead of an answer)."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows, self.read = rows, [(None, "failed", "not read")] * len(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, k: int) -> bytes:
        blob, digest, status, error = read_one(self.rows[k])
        self.read[k] = (digest, status, error)
        return blob or b""


def _labels(model: str | None) -> tuple[str, ...]:
    """The model's labels, read from its metadata without loading weights."""
    from emovox.store import runs

    return tuple(runs.find_model(model).member_meta()[0]["labels"])


def _actor_analysis(adapt: str, grouped: bool) -> dict:
    """What an actor's analysis settings say of grouping: grouped inputs come with their
    groups (predict(groups=)) and their prior as asked; the rest adapt as said and read
    under the model's prior (a batch is no group)."""
    if grouped:
        return {"adapt": "recording"}
    return {"adapt": adapt, "prior": "model"}
