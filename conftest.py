"""The pytest layer: options, case parametrization, result collection. Hooks are one call into ``suite``."""

from __future__ import annotations

import argparse
import json
import os
import re

import pytest

from suite.errors import SuiteError
from suite.profiles import PROFILES
from suite.results import CaseResult
from suite.session import (BenchSession, Options, case_marks, device_for_worker, parse_lr, parse_max_gap,
                           parse_percent, parse_seeds, parse_shard, parse_tolerance, visible_gpus)

SESSION = pytest.StashKey[BenchSession]()
FINISH_LINES = pytest.StashKey[list]()
RESULT_PROPERTY = "glue_bench_result"


def _checked(parse):
    def wrapper(text):
        try:
            return parse(text)
        except SuiteError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    wrapper.__name__ = parse.__name__
    return wrapper


def pytest_addoption(parser):
    g = parser.getgroup("glue-adapter-bench")
    g.addoption("--profile", default="smoke", metavar="NAME",
                help=f"benchmark profile: {', '.join(PROFILES)}. Default: %(default)r")
    g.addoption("--glue-dir", default=None, metavar="DIR",
                help="local GLUE folder in the classic TSV layout (else $GLUE_DIR, else the Hub). Default: None")
    g.addoption("--model", default=None, metavar="ID",
                help="minilm (embedded), tiny, a Hub id or a local path. Default: the profile's")
    g.addoption("--methods", default=None, metavar="LIST",
                help="comma list of methods or adapters config strings, e.g. 'full,seq_bn[reduction_factor=4]'. "
                     "Default: the profile's")
    g.addoption("--tasks", default=None, metavar="LIST", help="comma list of GLUE tasks. Default: the profile's")
    g.addoption("--seeds", default=None, type=_checked(parse_seeds), metavar="LIST",
                help="comma list of integer seeds; each case aggregates over them. Default: the profile's")
    g.addoption("--lr", default=None, type=_checked(parse_lr), metavar="NAME=RATE,...",
                help="learning rates by method or family, e.g. 'full=2e-5,adapter=1e-3,lora=5e-4'. "
                     "Default: the profile's and each method's")
    g.addoption("--tolerance", default=None, type=_checked(parse_tolerance), metavar="POINTS",
                help="allowed drop below baseline in points (0-100), overriding baseline and profile. Default: None")
    g.addoption("--max-gap", default=None, type=_checked(parse_max_gap), metavar="POINTS",
                help="fail an adapter case that trails full fine-tuning of the same run by more than POINTS. "
                     "Default: None (reported, not gated)")
    g.addoption("--throughput-tolerance", default=None, type=_checked(parse_percent), metavar="PCT",
                help="fail a case whose training samples/s dropped more than PCT%% below the baseline's figure "
                     "for this same hardware. Default: None (off)")
    g.addoption("--shard", default=None, type=_checked(parse_shard), metavar="I/N",
                help="run only the I-th of N round-robin slices of the cases (CI matrix); merge the results files "
                     "with python -m suite report. Default: all cases")
    g.addoption("--strict-baselines", action="store_true", default=False,
                help="fail a case that has no usable baseline (no entry, stale, or one a dead model passes) instead "
                     "of skipping it: CI uses this, so that a gate that compared nothing never ends green")
    g.addoption("--update-baselines", action="store_true", default=False,
                help="re-measure the selected cases and rewrite only their baseline entries (atomically)")
    g.addoption("--results-json", default=None, metavar="PATH", help="write every case result to PATH")
    g.addoption("--report-dir", default=None, metavar="DIR",
                help="write report.md, report.html and PNG plots to DIR at the end (and to $GITHUB_STEP_SUMMARY)")
    g.addoption("--baselines-dir", default=None, metavar="DIR", help="folder of <profile>.json baselines. "
                "Default: baselines/ in the project")


def pytest_configure(config):
    if hasattr(config, "workerinput"):  # pytest-xdist worker: one GPU each when there are several
        device = device_for_worker(config.workerinput.get("workerid"), visible_gpus())
        if device is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = device
    config.addinivalue_line("markers", "glue: a GLUE benchmark case (task x method)")
    config.addinivalue_line("markers", "diagnostic: a diagnose sweep case (run with -m diagnostic)")
    o = config.option
    options = Options(profile=o.profile, glue_dir=o.glue_dir, model=o.model, methods=o.methods, tasks=o.tasks,
                      seeds=o.seeds, lr=o.lr, shard=o.shard, tolerance=o.tolerance, max_gap=o.max_gap,
                      throughput_tolerance=o.throughput_tolerance, update_baselines=o.update_baselines,
                      strict_baselines=o.strict_baselines,
                      results_json=o.results_json, report_dir=o.report_dir)
    if o.baselines_dir:
        options.baselines_dir = o.baselines_dir
    try:
        config.stash[SESSION] = BenchSession(options)
    except SuiteError as exc:
        raise pytest.UsageError(str(exc)) from None
    for name, doc in config.stash[SESSION].marker_docs().items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    if not hasattr(config, "workerinput"):  # the controller owns results and files
        config.pluginmanager.register(ResultCollector(config.stash[SESSION]), "glue-bench-results")
        _note_interrupts(config.stash[SESSION])


def case_id(case) -> str:
    method = re.sub(r"[\[\],\s]+", "_", case.method).strip("_").replace("+", "-")
    return f"{case.task}-{method}"


def pytest_generate_tests(metafunc):
    if "diagnosis" in metafunc.fixturenames:
        from suite.diagnose import FACTORS

        targets = [c for c in metafunc.config.stash[SESSION].cases() if c.adapter_config is not None]
        metafunc.parametrize("diagnosis", [(c, f) for c in targets for f in FACTORS],
                             ids=[f"{case_id(c)}-{f}" for c in targets for f in FACTORS])
    if "case" in metafunc.fixturenames:
        try:
            cases = metafunc.config.stash[SESSION].cases()
        except SuiteError as exc:
            raise pytest.UsageError(str(exc)) from None
        metafunc.parametrize("case", [pytest.param(c, id=case_id(c), marks=[getattr(pytest.mark, m) for m in case_marks(c)])
                                      for c in cases])


def pytest_collection_modifyitems(config, items):
    """Diagnostic sweeps are long: they run only when selected with -m diagnostic."""
    if "diagnostic" in (config.option.markexpr or ""):
        return
    skipped = [i for i in items if i.get_closest_marker("diagnostic")]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [i for i in items if not i.get_closest_marker("diagnostic")]


@pytest.fixture(scope="session")
def glue_session(request) -> BenchSession:
    return request.config.stash[SESSION]


@pytest.fixture
def record_case(record_property):
    """Attach a CaseResult to the test report: the controller collects it, also under pytest-xdist."""
    def record(result: CaseResult) -> None:
        record_property(RESULT_PROPERTY, json.dumps(result.to_dict()))
        for k, v in result.summary().items():
            if isinstance(v, (int, float, str)):
                record_property(k, v)
    return record


class ResultCollector:
    """Controller-side plugin: gathers CaseResults from test reports (they arrive from xdist workers too)."""

    def __init__(self, session: BenchSession):
        self.session = session

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report):
        for prop in [p for p in report.user_properties if p[0] == RESULT_PROPERTY]:
            report.user_properties.remove(prop)  # figures stay as properties; the bulky JSON stays out of JUnit
            if report.when == "call":  # every phase's report carries the item's properties
                self.session.add(CaseResult.from_dict(json.loads(prop[1])))


def _note_interrupts(bench: BenchSession) -> None:
    """Remember a Ctrl-C ourselves: if pytest's own interrupt report fails (see below), the session would finish
    with status OK, and an interrupted run must never write baselines."""
    import signal

    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        bench.interrupted = True
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)


@pytest.hookimpl(tryfirst=True)
def pytest_keyboard_interrupt(excinfo):
    """Work around a crash of pytest's interrupt report on Python 3.11: a KeyboardInterrupt thrown through pluggy's
    hook wrappers can carry traceback entries without a line number (tb_lineno None), and formatting them raises
    TypeError, which skipped the INTERRUPTED exit status. Unlink those entries before the report is built."""
    tb = excinfo.value.__traceback__
    while tb is not None and tb.tb_next is not None:
        if tb.tb_next.tb_lineno is None:
            tb.tb_next = tb.tb_next.tb_next
        else:
            tb = tb.tb_next


def pytest_sessionfinish(session, exitstatus):
    """The controller writes files and judges what needs every result (the gap gate under xdist and shards)."""
    config = session.config
    if hasattr(config, "workerinput") or SESSION not in config.stash:
        return
    bench = config.stash[SESSION]
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or bench.interrupted
    lines, broken = bench.finish(interrupted=interrupted)
    config.stash[FINISH_LINES] = lines
    if interrupted:
        return
    if broken or bench.gap_failures():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config):
    if SESSION not in config.stash:
        return
    text = config.stash[SESSION].summary()
    lines = config.stash.get(FINISH_LINES, [])
    if text or lines:
        terminalreporter.write_sep("=", "glue-adapter-bench")
        for line in [text, *lines] if text else lines:
            terminalreporter.write_line(line)


def pytest_benchmark_update_machine_info(config, machine_info):
    """pytest-benchmark's machine info (in --benchmark-json / autosave) gets the versions and hardware that matter."""
    from suite.results import hardware, package_versions

    machine_info["glue_bench"] = {"versions": package_versions(), "hardware": hardware()}
