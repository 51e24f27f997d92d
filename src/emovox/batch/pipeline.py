"""The batch job on Ray Data: plan -> read and hash (CPU tasks) -> analyse and write (an actor
pool, one loaded model per actor, GPUs where the cluster has them, each batch's Parquet part
written as it is made). Ray is an optional extra; this is the one module that imports it."""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

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


def run(cfg: BatchConfig, progress: bool = True) -> dict:
    """Run the job (resuming whatever ``cfg.out`` holds); its summary."""
    require()
    import ray
    import ray.data  # noqa: F401 - Ray Data registers itself on ray

    started = time.time()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    labels = _labels(cfg.model)
    extras = plan.extra_columns(cfg.inputs)
    seen = output.seen(out)
    _connect(ray, cfg.address)
    refs, planned, skipped = [], 0, 0
    for table, n_skipped in plan.chunks(cfg.inputs, seen, extras, cfg.batch_size):
        skipped += n_skipped
        if table.num_rows:
            refs.append(ray.put(table))  # the plan lives in the object store, not the driver
            planned += table.num_rows
    run_id = uuid.uuid4().hex[:12]
    if refs:
        _execute(ray, cfg, refs, labels, extras, run_id, progress)
    return output.summary(out, run_id, planned, skipped, time.time() - started)


def _connect(ray, address: str | None) -> None:
    import logging

    if ray.is_initialized():
        return
    kwargs = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(include_dashboard=False, **kwargs)


def _execute(ray, cfg: BatchConfig, refs, labels, extras, run_id: str, progress: bool) -> None:
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = progress
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
    # reading and hashing is I/O: it takes no CPU slot, so it never waits behind the actors
    ds = ds.map_batches(read_and_hash, batch_format="pyarrow", batch_size=None, num_cpus=0)
    ds = ds.map_batches(
        Analyse,
        fn_constructor_kwargs={
            "model": cfg.model,
            "engine": cfg.engine,
            "device": "cuda" if cfg.gpus_per_worker else "cpu",
            "analysis": cfg.analysis,
            "schema": output.result_schema(labels, extras, cfg.segments),
            "run_id": run_id,
            "out": str(cfg.out),
        },
        compute=ray.data.ActorPoolStrategy(size=workers),
        batch_size=cfg.batch_size,
        batch_format="pyarrow",
        **analysis_res,
    )
    # the actors write their own parts: a separate write stage would need CPUs the actors
    # hold (and so wait for the last batch) or start processes of its own
    for _ in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
        pass


def read_and_hash(table: pa.Table) -> pa.Table:
    """Each planned input's bytes, SHA-256 and status; inputs whose content the output already
    holds (same path, same hash) are dropped here."""
    import os

    data, hashes, status, errors, keep = [], [], [], [], []
    for row in table.select(["path", "size", "mtime_ns", "done_sha256"]).to_pylist():
        try:
            with open(row["path"], "rb") as f:
                blob = f.read()
            st = os.stat(row["path"])
        except FileNotFoundError:
            blob, st = None, None
        except OSError as exc:
            blob, st = exc, None
        digest = hashlib.sha256(blob).hexdigest() if isinstance(blob, bytes) else None
        keep.append(digest is None or digest != row["done_sha256"])
        if isinstance(blob, bytes):
            changed = (row["size"], row["mtime_ns"]) != (st.st_size, st.st_mtime_ns)
            status.append("changed" if changed else "done")
            errors.append(None)
        elif blob is None:
            was = "it vanished after the job was planned" if row["size"] is not None else ""
            status.append("vanished")
            errors.append(f"no such file{': ' + was if was else ''}")
        else:
            status.append("failed")
            errors.append(f"cannot read: {blob.strerror or blob}")
        data.append(blob if isinstance(blob, bytes) else None)
        hashes.append(digest)
    table = table.drop_columns(["done_sha256"])
    table = table.append_column("data", pa.array(data, pa.large_binary()))
    table = table.append_column("sha256", pa.array(hashes, pa.string()))
    table = table.append_column("status", pa.array(status, pa.string()))
    table = table.append_column("read_error", pa.array(errors, pa.string()))
    return table.filter(pa.array(keep, pa.bool_()))


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
        from emovox.infer.result import Result

        rows = table.drop_columns(["data"]).to_pylist()
        blobs = table.column("data").to_pylist()
        readable = [k for k, b in enumerate(blobs) if b is not None]
        answers = self.model.predict_many([blobs[k] for k in readable])
        results = dict(zip(readable, answers, strict=True))
        out = []
        for k, row in enumerate(rows):
            result = results.get(k) or Result(row["path"], error=row["read_error"])
            answer = output.result_row(result, self.labels, self.segments)
            status = "failed" if result.error and row["status"] != "vanished" else row["status"]
            out.append({**row, **answer, "status": status, "run_id": self.run_id})
        names = self.schema.names
        table = pa.Table.from_pylist([{n: r.get(n) for n in names} for r in out], self.schema)
        # written here, whole, the moment it is made: a repeat of this call after the actor
        # died writes the same part under the same name
        output.write_part(self.out, table)
        return table.select(["path", "status"])


def _labels(model: str | None) -> tuple[str, ...]:
    """The model's labels, read from its metadata without loading weights."""
    from emovox.store import runs

    return tuple(runs.find_model(model).member_meta()[0]["labels"])
