"""One vocabulary for adaptation: the same words in ``emovox predict --help``, ``emovox batch
--help``, the service's OpenAPI schema and the Python API's docstrings."""

import argparse
import json

import pytest

import emovox
from emovox.cli.commands import build_parser
from emovox.infer.analyzer import Analyzer
from emovox.infer.config import ADAPT, ADAPT_HELP, AnalysisConfig
from emovox.serve.app import create_app
from emovox.serve.config import ServeConfig

pytestmark = pytest.mark.fast  # the file's tier (tests/README.md)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _help(command: str) -> str:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return _flat(sub.choices[command].format_help())


def test_the_same_words_for_adaptation_everywhere():
    words = _flat(ADAPT_HELP)
    assert words in _help("predict") and words in _help("batch")
    assert "column:NAME" in _help("batch") and "column:NAME" not in _help("predict")
    schema = json.dumps(create_app(ServeConfig(), emovox.load_model()).openapi())
    assert ADAPT_HELP in schema
    assert all(f'"{w}"' in AnalysisConfig.__doc__ for w in ADAPT)
    assert "column:NAME" in AnalysisConfig.__doc__ and "groups=" in AnalysisConfig.__doc__
    assert 'cfg.adapt == "folder"' in Analyzer.predict_many.__doc__
    for old in ("--adapt-by", "--no-adapt"):  # kept for 0.5's callers, not shown
        assert old not in _help("predict") and old not in _help("batch")
