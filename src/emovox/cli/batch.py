"""``emovox batch``: an archive through Ray Data (:mod:`emovox.batch.pipeline`), or with
``--dry-run`` its plan: the inputs, their hours from the headers and a wall-time estimate."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from emovox.cli import adapting
from emovox.cli.predict import SPEAKERS_HELP


def _cmd_batch(args: argparse.Namespace) -> int:
    from emovox.batch import require

    require(ray=not args.dry_run)
    from emovox.batch import plan

    args.adapt = adapting.chosen(args, column=True)
    group = plan.grouping(args.adapt, plan.extra_columns(args.inputs))  # refused before start
    if args.prior == "group" and group is None:
        raise ValueError(
            "--prior group reads each group's own prior: give the groups with --adapt folder "
            "or --adapt column:NAME"
        )
    if args.dry_run:
        return _dry_run(args)
    from emovox.batch import pipeline

    cfg = pipeline.BatchConfig(
        inputs=args.inputs,
        out=Path(args.out),
        address=args.address,
        workers=args.workers,
        batch_size=args.batch_size,
        segments=args.segments,
        model=args.model,
        engine=args.engine,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.gpus_per_worker,
        analysis=({} if args.speakers is None else {"speakers": args.speakers})
        | ({} if args.threshold is None else {"threshold": args.threshold})
        | {"prior": args.prior},
        adapt=args.adapt,
    )
    try:
        s = pipeline.run(cfg, progress=not args.no_progress)
    except pipeline.Interrupted as stop:  # Ctrl-C: no traceback, and how to go on
        s = stop.summary
        print(
            f"interrupted: {s['written']} of {s['planned']} inputs written to {args.out}; run "
            "the same command again to resume",
            file=sys.stderr,
        )
        return 130
    if s["duplicates"]:
        same = ", ".join(s["duplicate_examples"]) + (", ..." if s["duplicates"] > 3 else "")
        print(
            f"emovox: warning: {s['duplicates']} input(s) name a file listed before (the same "
            f"path, or a link or another path to it), each analysed as listed: {same}",
            file=sys.stderr,
        )
    print(
        f"{s['written']} written ({s['done']} done, {s['changed']} changed while running, "
        f"{s['failed']} failed, {s['vanished']} vanished), {s['skipped']} skipped as already "
        f"in {args.out}; {s['hours_of_audio']:.2f} h of audio in {s['wall_seconds']:.1f} s",
        file=sys.stderr,
    )
    return 1 if s["failed"] or s["vanished"] else 0


def _dry_run(args: argparse.Namespace) -> int:
    """Each planned input and its duration from the header (stdout); totals (stderr)."""
    from emovox import audio
    from emovox.batch import output, plan

    extras = plan.extra_columns(args.inputs)
    n, skipped, seconds, unknown = 0, 0, 0.0, 0
    for table, n_skipped in plan.chunks(args.inputs, output.seen(Path(args.out)), extras):
        skipped += n_skipped
        for path in table.column("path").to_pylist():
            try:
                duration = audio.info(path)[2]
            except (audio.AudioError, OSError):
                duration = 0.0
            unknown += duration == 0.0
            seconds += duration
            n += 1
            print(f"{path}\t{duration:.2f}")
    print(
        f"{n} inputs to analyse ({skipped} already in {args.out}), {seconds / 3600:.2f} h of "
        f"audio{f' ({unknown} without a duration in the header)' if unknown else ''}; "
        + _estimate(Path(args.out), seconds),
        file=sys.stderr,
    )
    return 0


def _estimate(out: Path, seconds: float) -> str:
    summary = out / "summary.json"
    rate = None
    if summary.exists():
        rate = json.loads(summary.read_text()).get("measured_audio_hours_per_hour")
    if not rate:
        return "no throughput measured yet in this folder: run a sample to get an estimate"
    return f"about {seconds / rate / 60:.1f} min at the {rate:.0f} h of audio per hour measured"


def add_batch_parser(sub) -> None:
    b = sub.add_parser(
        "batch",
        help="an archive through Ray: Parquet results, resumable (pip install 'emovox[ray]')",
    )
    b.add_argument(
        "inputs",
        nargs="+",
        help="files, folders, quoted globs, @list.txt, or a CSV/Parquet manifest with a path "
        "column (its other columns are carried into the output)",
    )
    b.add_argument("--out", required=True, help="output folder (results/, segments/, summary)")
    b.add_argument(
        "--address", help="a Ray cluster (auto, host:port or ray://...); default: start Ray here"
    )
    b.add_argument(
        "--workers", type=int, default=0, help="model actors (default: one per cluster CPU)"
    )
    b.add_argument("--batch-size", type=int, default=16, help="inputs per actor call")
    b.add_argument("--segments", action="store_true", help="also write a table of segments")
    b.add_argument("--model", help="model folder or run (default: the bundled model)")
    b.add_argument(
        "--engine",
        choices=["torch", "numpy", "auto"],
        default="torch",
        help="torch (default): batched, fastest through many inputs, CUDA with "
        "--gpus-per-worker; numpy: no torch in the actors (models that allow it); auto: numpy "
        "where the model allows it",
    )
    b.add_argument(
        "--cpus-per-worker",
        type=int,
        default=0,
        help="CPU threads per model actor (default: the CPUs shared out among --workers)",
    )
    b.add_argument(
        "--gpus-per-worker",
        type=float,
        default=0.0,
        help="put each model actor on this share of a GPU (runs it on CUDA)",
    )
    b.add_argument("--threshold", type=float, default=None, help="as emovox predict's")
    adapting.add_options(b, column=True)
    b.add_argument("--speakers", type=int, metavar="N", help=SPEAKERS_HELP)
    b.add_argument(
        "--dry-run", action="store_true", help="list the inputs and estimate; analyse nothing"
    )
    b.add_argument("--no-progress", action="store_true", help="no progress display")
    b.set_defaults(func=_cmd_batch)
