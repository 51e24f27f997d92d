"""Command-line interface: argument parsing only; each command calls one function below."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _cmd_data_inspect(args: argparse.Namespace) -> int:
    from emovox import corpora

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
    con.print(f"[bold]{args.path}[/]: {summary['files']} files, {summary['speakers']} speakers, "
              f"{summary['duration_s'] / 60:.1f} min")  # fmt: skip
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
    import numpy as np
    from rich.progress import Progress

    from emovox import corpora, data
    from emovox.cache import ArrayCache
    from emovox.evaluate import write_json
    from emovox.features import FeatureConfig, FeatureExtractor

    manifest = corpora.read_corpus(args.data, args.corpus)
    clips = data.load_clips(manifest.rows)
    cfg = FeatureConfig()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with Progress() as bar:
        task = bar.add_task("features", total=len(clips.waves))
        feats = data.clean_features(
            clips.waves, [r.sha1 for r in clips.rows], FeatureExtractor(cfg),
            None if args.no_cache else ArrayCache(), progress=lambda n: bar.advance(task, n),
        )  # fmt: skip
    offsets = np.cumsum([0] + [len(f) for f in feats])
    tmp = out / "features.tmp.npz"
    np.savez(tmp, features=np.concatenate(feats), offsets=offsets,
             paths=np.array([r.path for r in clips.rows]),
             emotions=np.array([r.emotion for r in clips.rows]),
             speakers=np.array([r.speaker for r in clips.rows]),
             feature_names=np.array([f"{g}{i}" for g, n in cfg.dims().items()
                                     for i in range(n)]))  # fmt: skip
    tmp.replace(out / "features.npz")
    corpora.Manifest(clips.rows, []).write_tsv(out / "manifest.tsv")
    write_json({"feature_config": cfg.to_dict(), "slices": {g: [s.start, s.stop] for g, s in
                cfg.slices().items()}, "errors": clips.errors}, out / "features.json")  # fmt: skip
    print(f"{len(feats)} clips, {int(offsets[-1])} frames x {cfg.n_features} features -> "
          f"{out / 'features.npz'}; {len(clips.errors)} unreadable files")  # fmt: skip
    for path, cause in clips.errors:
        print(f"  {path}: {cause}")
    return 0


def _train_config(args: argparse.Namespace):
    from emovox.train import load_config

    overrides = {"model": args.model, "data": args.data, "protocol": args.protocol,
                 "fold": args.fold, "labels": args.labels, "seed": args.seed,
                 "epochs": args.epochs, "batch_size": args.batch_size, "amp": args.amp,
                 "device": args.device, "test_corpus": args.test_corpus,
                 "encoder": args.encoder, "finetune_layers": args.finetune_layers}  # fmt: skip
    for item in args.set or []:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    cfg = load_config(args.config, overrides)
    if args.no_augment:
        cfg.augment = {**cfg.augment, "enabled": False}
    return cfg


def _cmd_train(args: argparse.Namespace) -> int:
    from emovox import train

    if args.resume:
        m = train.train(train.TrainConfig(), args.resume, resume=True)
        out = args.resume
    else:
        if not args.out:
            raise ValueError("--out RUN_DIR is required (or --resume RUN_DIR)")
        m = train.train(_train_config(args), args.out)
        out = args.out
    if m:
        print(f"{out}: accuracy {m['accuracy']:.4f}  UAR {m['uar']:.4f}  "
              f"macro-F1 {m['macro_f1']:.4f}  ({m['train_seconds']:.0f} s training)")
    return 0


def _cmd_cv(args: argparse.Namespace) -> int:
    from emovox import train

    if not args.out:
        raise ValueError("--out DIR is required")
    folds = [int(k) for k in args.folds.split(",")] if args.folds else None
    s = train.cv(_train_config(args), args.out, folds)
    print(f"{args.out}: accuracy {s['accuracy_mean']:.4f} ± {s['accuracy_std']:.4f}  "
          f"UAR {s['uar_mean']:.4f}  macro-F1 {s['macro_f1_mean']:.4f}  over {s['n_folds']} folds")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from emovox import train

    m = train.evaluate_run(args.run, args.data, args.out)
    print(f"accuracy {m['accuracy']:.4f}  UAR {m['uar']:.4f}  macro-F1 {m['macro_f1']:.4f}  "
          f"on {m['n']} clips -> {args.out or args.run}")
    return 0


def _add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML or TOML config file; flags override it")
    p.add_argument("--model", choices=["cnn_lstm", "ssl", "hybrid"], help="default: cnn_lstm")
    p.add_argument("--encoder", help="ssl/hybrid: whisper-base, whisper-tiny, a folder or hub id")
    p.add_argument("--finetune-layers", type=int, help="encoder top layers to fine-tune")
    p.add_argument("--data", action="append", help="corpus folder/CSV/TSV (repeatable)")
    p.add_argument("--protocol", choices=["random", "speaker", "cross-corpus"])
    p.add_argument("--fold", type=int, help="speaker fold, or split seed for random")
    p.add_argument("--test-corpus", help="cross-corpus: the corpus to test on")
    p.add_argument("--labels", type=int, choices=[7, 8], help="7 (no calm) or 8 classes")
    p.add_argument("--seed", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--amp", choices=["auto", "bf16", "fp16", "off"])
    p.add_argument("--device", help="auto, cpu, cuda, cuda:1 ...")
    p.add_argument("--no-augment", action="store_true", help="turn waveform augmentation off")
    p.add_argument("--set", action="append", metavar="KEY=JSON",
                   help='any config key, e.g. --set lr=\'{"cnn_lstm":1e-3,"head":1e-3}\'')
    p.add_argument("--out", help="run folder")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="emovox", description="Speech emotion recognition toolkit")
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="corpus manifests").add_subparsers(dest="sub", required=True)
    insp = data.add_parser("inspect", help="counts per emotion/speaker/corpus and problem files")
    insp.add_argument("path", help="corpus folder, CSV (path,label,speaker) or manifest TSV")
    insp.add_argument("--corpus", help="reader to use (default: detect from file names)")
    insp.add_argument("--json", action="store_true", help="print one JSON object")
    insp.add_argument("--headers-only", action="store_true",
                      help="read headers only (fast); default decodes every file")  # fmt: skip
    insp.set_defaults(func=_cmd_data_inspect)

    feat = sub.add_parser("features", help="handcrafted features").add_subparsers(
        dest="sub", required=True)
    ext = feat.add_parser("extract", help="write frame-level features of a corpus to DIR")
    ext.add_argument("data", help="corpus folder, CSV or manifest TSV")
    ext.add_argument("--out", required=True, help="output folder (features.npz + manifest.tsv)")
    ext.add_argument("--corpus", help="reader to use (default: detect)")
    ext.add_argument("--no-cache", action="store_true", help="do not read/write the cache")
    ext.set_defaults(func=_cmd_features_extract)

    tr = sub.add_parser("train", help="train one model (one fold / split) into a run folder")
    _add_train_args(tr)
    tr.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run")
    tr.set_defaults(func=_cmd_train)

    cvp = sub.add_parser("cv", help="train and evaluate every fold, write summary.json")
    _add_train_args(cvp)
    cvp.add_argument("--folds", help="comma-separated subset, e.g. 1,2")
    cvp.set_defaults(func=_cmd_cv)

    ev = sub.add_parser("evaluate", help="metrics.json, report.txt, confusion.png of a run")
    ev.add_argument("run", help="run folder")
    ev.add_argument("--data", action="append", help="evaluate on these corpora instead")
    ev.add_argument("--out", help="output folder (default: the run folder)")
    ev.set_defaults(func=_cmd_evaluate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"emovox: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
