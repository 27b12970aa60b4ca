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
from suite.options import OPTIONS, Options
from suite.session import BenchSession, case_marks, device_for_worker, visible_gpus

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


def _pytest_profiling_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("pytest_profiling") is not None


def pytest_addoption(parser):
    """The option group, built from the one declaration in suite/options.py (dest prefixed ``gab_``)."""
    g = parser.getgroup("glue-adapter-bench")
    aliases_ok = not _pytest_profiling_installed()  # pytest-profiling owns --profile
    for o in OPTIONS:
        flags = [o.flag, *(a for a in o.aliases if aliases_ok)]
        if o.is_switch:
            g.addoption(*flags, dest=f"gab_{o.dest}", action="store_true", default=False, help=o.help)
        else:
            g.addoption(*flags, dest=f"gab_{o.dest}", default=None, type=_checked(o.parse), metavar=o.metavar,
                        help=o.help)


def _options(config) -> Options:
    return Options.from_values({o.dest: config.getoption(f"gab_{o.dest}") for o in OPTIONS})


def pytest_configure(config):
    if hasattr(config, "workerinput"):  # pytest-xdist worker: one GPU each when there are several
        device = device_for_worker(config.workerinput.get("workerid"), visible_gpus())
        if device is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = device
    config.addinivalue_line("markers", "glue: a GLUE benchmark case (task x method)")
    config.addinivalue_line("markers", "diagnostic: a diagnose sweep case (run with -m diagnostic)")
    try:
        config.stash[SESSION] = BenchSession(_options(config))
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
    with status OK, and an interrupted run must never write baselines. SIGTERM (CI cancellation) is made to behave
    as Ctrl-C (suite.signals): the results so far are written, baselines untouched, one line "terminated
    (SIGTERM): ...", and pytest's interrupted exit status 2."""
    from suite.signals import install

    def noted(name: str) -> None:
        bench.interrupted = True
        bench.interrupted_by = name

    install(noted)


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
