"""Command-line interface: argument parsing and output formatting; each command calls the
library function that does the work."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from emovox.cli.batch import add_batch_parser
from emovox.cli.listen import add_listen_parser
from emovox.cli.predict import add_demo_parser, add_predict_parser
from emovox.cli.serve import add_serve_parser
from emovox.models import KINDS
from emovox.store import legacy


def _cmd_data_inspect(args: argparse.Namespace) -> int:
    from emovox.data import corpora

    manifest = corpora.read_corpus(args.path, args.corpus)
    if not args.headers_only:
        manifest = corpora.check_audio(manifest)
    summary = corpora.summarise(manifest)
    if args.json:
        print(json.dumps(summary))
        return 0
    from rich.console import Console
    from rich.table import Table

    con = Console()
    con.print(
        f"[bold]{args.path}[/]: {summary['files']} files, {summary['speakers']} speakers, "
        f"{summary['duration_s'] / 60:.1f} min"
    )
    for key in ("emotions", "corpora", "genders"):
        t = Table(key, "files")
        for k, v in summary[key].items():
            t.add_row(k or "(unknown)", str(v))
        con.print(t)
    per = summary["per_speaker"].values()
    if per:
        con.print(f"files per speaker: min {min(per)}, max {max(per)}")
    if summary["problems"]:
        con.print(f"[red]{len(summary['problems'])} problem files:[/]")
        for p in summary["problems"]:
            con.print(f"  {p['path']}: {p['cause']}")
    else:
        con.print("no problem files")
    return 0


def _cmd_features_extract(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from emovox.data import corpora
    from emovox.data.clips import clean_features, load_clips, write_feature_table
    from emovox.features.handcrafted import FeatureConfig, FeatureExtractor
    from emovox.store.cache import ArrayCache

    manifest = corpora.read_corpus(args.data, args.corpus)
    clips = load_clips(manifest.rows)
    cfg = FeatureConfig(exact_stft=args.exact_stft)
    with Progress() as bar:
        task = bar.add_task("features", total=len(clips.waves))
        feats = clean_features(
            clips.waves,
            [r.sha1 for r in clips.rows],
            FeatureExtractor(cfg),
            None if args.no_cache else ArrayCache(),
            progress=lambda n: bar.advance(task, n),
        )
    path = write_feature_table(Path(args.out), clips, feats, cfg)
    frames = sum(len(f) for f in feats)
    print(
        f"{len(feats)} clips, {frames} frames x {cfg.n_features} features -> {path}; "
        f"{len(clips.errors)} unreadable files"
    )
    for p, cause in clips.errors:
        print(f"  {p}: {cause}")
    return 0


def _set_value(overrides: dict, item: str) -> None:
    """``--set key=JSON`` (or a plain string); dotted keys reach into nested sections."""
    key, _, value = item.partition("=")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    *parents, leaf = key.split(".")
    target = overrides
    for name in parents:
        target = target.setdefault(name, {})
    target[leaf] = parsed


def _train_config(args: argparse.Namespace):
    from emovox.train.config import load_config

    flags = {
        "model": args.model,
        "data": args.data,
        "protocol": args.protocol,
        "fold": args.fold,
        "split_seed": args.split_seed,
        "labels": args.labels,
        "seed": args.seed,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "amp": args.amp,
        "device": args.device,
        "test_corpus": args.test_corpus,
        "encoder": args.encoder,
        "finetune_layers": args.finetune_layers,
        "ensemble": args.ensemble,
    }
    if args.no_augment:
        flags["augment"] = {"enabled": False}
    for item in args.set or []:
        _set_value(flags, item)
    return load_config(args.config, flags)


def _print_result(out: str, m: dict) -> None:
    if m and m.get("n"):
        print(
            f"{out}: accuracy {m['accuracy']:.4f}  UAR {m['uar']:.4f}  "
            f"macro-F1 {m['macro_f1']:.4f}  ({m['train_seconds']:.0f} s training)"
        )
    elif m:
        print(f"{out}: trained ({m['train_seconds']:.0f} s); no test clips")


def _cmd_train(args: argparse.Namespace) -> int:
    from emovox.store.runs import RunFolder
    from emovox.train import experiments
    from emovox.train.config import validate

    if args.resume:  # a single run or an ensemble run, from the config it saved
        cfg, out, resume = validate(RunFolder(args.resume).read_config()), args.resume, True
    elif not args.out:
        raise ValueError("--out RUN_DIR is required (or --resume RUN_DIR)")
    else:
        cfg, out, resume = _train_config(args), args.out, False
    _print_result(out, experiments.run(cfg, out, resume=resume))
    return 0


def _cmd_cv(args: argparse.Namespace) -> int:
    from emovox.train import experiments

    if not args.out:
        raise ValueError("--out DIR is required")
    folds = [int(k) for k in args.folds.split(",")] if args.folds else None
    s = experiments.cv(_train_config(args), args.out, folds)
    print(
        f"{args.out}: accuracy {s['accuracy_mean']:.4f} ± {s['accuracy_std']:.4f}  "
        f"UAR {s['uar_mean']:.4f}  macro-F1 {s['macro_f1_mean']:.4f}  over {s['n_folds']} folds"
    )
    if "text_controlled" in s:
        t = s["text_controlled"]
        print(
            f"  on sentences spoken in every emotion: accuracy {t['accuracy_mean']:.4f} ± "
            f"{t['accuracy_std']:.4f}  UAR {t['uar_mean']:.4f}"
        )
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from emovox.evaluation.evaluate import evaluate_run
    from emovox.store.runs import RunFolder

    m = evaluate_run(args.run, args.data, args.out, checkpoint_name=args.checkpoint)
    where = RunFolder(args.run).report_dir(args.out, args.checkpoint)
    print(
        f"accuracy {m['accuracy']:.4f}  UAR {m['uar']:.4f}  macro-F1 {m['macro_f1']:.4f}  "
        f"on {m['n']} clips -> {where}"
    )
    if "text_controlled" in m:
        t = m["text_controlled"]
        print(
            f"  on {t['n']} clips of sentences spoken in every emotion: "
            f"accuracy {t['accuracy']:.4f}"
        )
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from emovox.evaluation import importance
    from emovox.evaluation.evaluate import split_rows
    from emovox.store.runs import RunFolder

    run = RunFolder(args.run)
    rows = split_rows(run, run.labels(), args.data)
    result = importance.analyze_run(run.root, rows, run.cache(), args.repeats, args.out)
    print(importance.summary_text(result))
    print(f"-> {Path(args.out or run.root) / 'analysis.json'}, analysis.png")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from emovox.store import runs

    calibration = None
    if args.calibration:
        calibration = json.loads(Path(args.calibration).read_text())
        if not {"temperature", "threshold"} <= set(calibration):
            raise SystemExit(f"{args.calibration}: needs 'temperature' and 'threshold'")
    try:
        out = runs.export(args.run, args.out, calibration, args.recording_head)
    except ValueError as exc:
        raise SystemExit(f"emovox export: {exc}") from None
    size = sum(f.stat().st_size for f in out.iterdir())
    print(f"{args.run} -> {out} ({size / 1e6:.1f} MB)")
    return 0


def _add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML or TOML config file; flags override it")
    p.add_argument(
        "--model",
        type=legacy.kind,
        choices=list(KINDS),
        help="default: encoder; each kind trains with its best measured settings",
    )
    p.add_argument(
        "--encoder",
        help="encoder/hybrid: whisper-base, whisper-tiny, or a folder or "
        "hub id of a Whisper, HuBERT, wav2vec2 or WavLM model",
    )
    p.add_argument("--finetune-layers", type=int, help="encoder top layers to fine-tune")
    p.add_argument("--data", action="append", help="corpus folder/CSV/TSV (repeatable)")
    p.add_argument(
        "--protocol",
        choices=["random", "speaker", "cross-corpus", "all"],
        help="all: train on everything (a model to ship; no test side)",
    )
    p.add_argument("--fold", type=int, help="speaker fold (1-6 on RAVDESS)")
    p.add_argument(
        "--split-seed",
        type=int,
        help="random: the test set's draw; speaker: the validation speakers'",
    )
    p.add_argument("--test-corpus", help="cross-corpus: the corpus to test on")
    p.add_argument("--labels", type=int, choices=[7, 8], help="7 (no calm) or 8 classes")
    p.add_argument("--seed", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--amp", choices=["auto", "bf16", "fp16", "off"])
    p.add_argument("--device", help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument(
        "--ensemble", type=int, metavar="N", help="train N members (seeds seed..seed+N-1) and vote"
    )
    p.add_argument("--no-augment", action="store_true", help="turn waveform augmentation off")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=JSON",
        help="any config key, dotted for nested ones, e.g. --set optim.lr.head=1e-3",
    )
    p.add_argument("--out", help="run folder")


def _add_data_parsers(sub) -> None:
    data = sub.add_parser("data", help="corpus manifests").add_subparsers(dest="sub", required=True)
    insp = data.add_parser("inspect", help="counts per emotion/speaker/corpus and problem files")
    insp.add_argument("path", help="corpus folder, CSV (path,label,speaker) or manifest TSV")
    insp.add_argument("--corpus", help="reader to use (default: detect from file names)")
    insp.add_argument("--json", action="store_true", help="print one JSON object")
    insp.add_argument(
        "--headers-only",
        action="store_true",
        help="read headers only (fast); default decodes every file",
    )
    insp.set_defaults(func=_cmd_data_inspect)
    feat = sub.add_parser("features", help="handcrafted features").add_subparsers(
        dest="sub", required=True
    )
    ext = feat.add_parser("extract", help="write frame-level features of a corpus to DIR")
    ext.add_argument("data", help="corpus folder, CSV or manifest TSV")
    ext.add_argument("--out", required=True, help="output folder (features.npz + manifest.tsv)")
    ext.add_argument("--corpus", help="reader to use (default: detect)")
    ext.add_argument("--no-cache", action="store_true", help="do not read/write the cache")
    ext.add_argument(
        "--exact-stft",
        action="store_true",
        help="round the spectrum as librosa does (its chroma tuning on every clip; "
        "about 1.6x the time)",
    )
    ext.set_defaults(func=_cmd_features_extract)


def _add_training_parsers(sub) -> None:
    tr = sub.add_parser("train", help="train one model (one fold / split) into a run folder")
    _add_train_args(tr)
    tr.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run")
    tr.set_defaults(func=_cmd_train)
    cvp = sub.add_parser("cv", help="train and evaluate every fold, write summary.json")
    _add_train_args(cvp)
    cvp.add_argument("--folds", help="comma-separated subset, e.g. 1,2")
    cvp.set_defaults(func=_cmd_cv)


def _add_run_parsers(sub) -> None:
    ev = sub.add_parser("evaluate", help="metrics.json, report.txt, confusion.png of a run")
    ev.add_argument("run", help="run folder")
    ev.add_argument("--data", action="append", help="evaluate on these corpora instead")
    ev.add_argument(
        "--out",
        help="output folder (default: the run folder; with --checkpoint last: RUN/last-checkpoint)",
    )
    ev.add_argument(
        "--checkpoint",
        choices=["model", "last", "best"],
        default="model",
        help="model: the one the run kept (its config's select: the last epoch, every kind's "
        "default, or the best validation macro-F1); last: the last epoch's (best: read as model)",
    )
    ev.set_defaults(func=_cmd_evaluate)
    an = sub.add_parser(
        "analyze",
        help="permutation importance of feature groups, encoder "
        "layers and pathways per emotion, most confused pairs",
    )
    an.add_argument("run", help="run folder (single model)")
    an.add_argument("--data", action="append", help="analyse on these corpora instead")
    an.add_argument("--repeats", type=int, default=3, help="permutations per part")
    an.add_argument("--out", help="output folder (default: the run folder)")
    an.set_defaults(func=_cmd_analyze)
    exp = sub.add_parser("export", help="a self-contained model folder from a (ensemble) run")
    exp.add_argument("run", help="run folder or ensemble run folder")
    exp.add_argument("--out", required=True, help="model folder to write")
    exp.add_argument(
        "--calibration",
        help="a JSON file with the temperature and the 'unsure' threshold to ship instead of "
        "the run's own (benchmarks/loco.py --calibrate writes one)",
    )
    exp.add_argument(
        "--recording-head",
        metavar="RUN",
        help="a speaker-normalised run (speaker_norm > 0) shipped beside the plain heads: "
        "speech adapted to its voice is answered by both kinds",
    )
    exp.set_defaults(func=_cmd_export)


def build_parser() -> argparse.ArgumentParser:
    from emovox import __version__

    p = argparse.ArgumentParser(prog="emovox", description="Speech emotion recognition toolkit")
    p.add_argument("--version", action="version", version=f"emovox {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (
        _add_data_parsers,
        _add_training_parsers,
        _add_run_parsers,
        add_predict_parser,
        add_serve_parser,
        add_batch_parser,
        add_listen_parser,
        add_demo_parser,
    ):
        add(sub)
    return p


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line on stderr, without the source line Python would print."""
    print(f"emovox: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    from emovox.cli.adapting import joined

    args = build_parser().parse_args(joined(sys.argv[1:] if argv is None else argv))
    import warnings

    warnings.showwarning = _show_warning
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"emovox: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as Python's docs advise
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
