"""Option parsing (suite/config/options.py). Every parser is also fed malformed values through the real entry
points (tests/test_reliability.py) and generated text (tests/test_properties.py)."""

import dataclasses

import pytest

from suite.config.options import (
    OPTIONS,
    Options,
    add_to_argparse,
    options_from_args,
    parse_lr,
    parse_max_drift,
    parse_max_gap,
    parse_path,
    parse_percent,
    parse_seeds,
    parse_shard,
    parse_tasks,
    parse_tolerance,
)
from suite.config.paths import DEFAULT_HISTORY
from suite.errors import SuiteError


def test_a_shard_beyond_the_count_is_refused():
    with pytest.raises(SuiteError, match="--shard takes I/N"):
        parse_shard("4/3")


@pytest.mark.parametrize("text, seeds", [("0", (0,)), ("0,1,2", (0, 1, 2)), (" 3 , 1 ", (3, 1))])
def test_seeds_parse_in_the_order_given(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text, words", [("0,,1", "empty item"), ("a,b", "integers"), ("", "at least one"),
                                         ("-1", "between 0 and"), ("4294967296", "between 0 and"),
                                         ("1,1", "distinct")])
def test_bad_seeds_are_one_line(text, words):
    with pytest.raises(SuiteError, match=words) as e:
        parse_seeds(text)
    assert "\n" not in str(e.value)


def test_learning_rates_by_method_and_family():
    assert parse_lr("full=2e-5,adapter=1e-3") == {"full": 2e-5, "adapter": 1e-3}
    assert parse_lr("seq_bn=1e-4") == {"seq_bn": 1e-4}
    for bad in ("full", "full=-1", "full=abc", "nosuchmethod=1e-3"):
        with pytest.raises(SuiteError):
            parse_lr(bad)


@pytest.mark.parametrize("parse", [parse_tolerance, parse_max_gap, parse_max_drift])
def test_points_are_finite_and_not_negative(parse):
    assert parse("0.5") == 0.5 and parse("0") == 0.0
    for bad in ("-1", "nan", "inf", "x"):
        with pytest.raises(SuiteError):
            parse(bad)


def test_throughput_tolerance_is_a_percentage_below_100():
    assert parse_percent("10") == parse_percent("10%") == 10.0
    for bad in ("100", "-5", "abc"):
        with pytest.raises(SuiteError):
            parse_percent(bad)


def test_shards_and_tasks():
    assert parse_shard("2/4") == (2, 4)
    for bad in ("0/2", "2", "a/b"):
        with pytest.raises(SuiteError, match="--shard takes I/N"):
            parse_shard(bad)
    assert parse_tasks("sst2,mnli,sst2") == ("sst2", "mnli")
    with pytest.raises(SuiteError, match="--tasks is empty"):
        parse_tasks(" , ")


def test_paths_refuse_empty_nul_and_overlong_names():
    assert parse_path("results/run.json") == "results/run.json"
    for bad in ("", "  ", "a\0b", "x" * 256):
        with pytest.raises(SuiteError):
            parse_path(bad)


def test_history_path_follows_option_then_environment_then_default(monkeypatch, tmp_path):
    monkeypatch.delenv("GLUE_BENCH_HISTORY", raising=False)
    assert Options().history_path() == DEFAULT_HISTORY
    monkeypatch.setenv("GLUE_BENCH_HISTORY", str(tmp_path / "h.sqlite"))
    assert Options().history_path() == tmp_path / "h.sqlite"
    assert Options(history=str(tmp_path / "o.sqlite")).history_path() == tmp_path / "o.sqlite"
    assert Options(no_history=True, history=str(tmp_path / "o.sqlite")).history_path() is None
    monkeypatch.setenv("GLUE_BENCH_HISTORY", "")
    assert Options().history_path() is None  # set but empty: off


def test_command_line_values_are_parsed_once_by_their_declaration():
    import argparse

    parser = argparse.ArgumentParser()
    add_to_argparse(parser)
    opts = options_from_args(parser.parse_args(["--seeds", "1,2", "--tolerance", "0.5", "--strict-baselines",
                                                "--shard", "1/2"]), tasks="sst2")
    assert (opts.seeds, opts.tolerance, opts.strict_baselines, opts.shard, opts.tasks) == ((1, 2), 0.5, True,
                                                                                            (1, 2), "sst2")
    with pytest.raises(SuiteError):
        options_from_args(parser.parse_args(["--seeds", "x"]))
    assert {o.dest for o in OPTIONS} <= {f.name for f in dataclasses.fields(Options)}
