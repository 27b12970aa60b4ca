"""The pytest plugin: options, case parametrization, result collection; each hook is one call into ``suite``.

Registered by the ``pytest11`` entry point in pyproject.toml (the root conftest.py only loads it for a checkout
that is not installed). A benchmark session is built only for a run that benchmarks: one that names the
benchmarks folder or a glue-adapter-bench option, or collects a benchmark case. ``pytest tests`` builds none,
loads no baseline and changes no environment variable.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

from suite import signals
from suite.config.options import OPTIONS, Options
from suite.config.paths import ROOT
from suite.config.profiles import CaseSpec
from suite.engine import progress
from suite.engine.results import CaseResult, hardware, package_versions
from suite.errors import SuiteError
from suite.gate import outcome
from suite.session.bench import BenchSession
from suite.session.selection import case_marks, device_for_worker, visible_gpus
from suite.store import benchjson
from suite.tools.diagnose.grid import FACTORS

SESSION = pytest.StashKey[BenchSession]()
FINISH_LINES = pytest.StashKey[list]()
HIDDEN_DIAGNOSTICS = pytest.StashKey[int]()
RESULT_PROPERTY = "glue_bench_result"
TIME_PROPERTY = "timed_s"  # wall time of the timed part of a case (model setup, training, evaluation of its seeds)
BENCHMARK_COLUMNS = ["mean", "rounds"]  # pytest-benchmark's table: one round per case has no spread to show


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


BENCHMARKS = ROOT / "benchmarks"
ENTRY_POINT = "glue_adapter_bench"  # the pytest11 entry point's name (pyproject.toml): the plugin's name when installed


def in_the_project(cwd: Path, argv: list[str]) -> bool:
    """Whether this pytest run is one of this project's: started inside the checkout that holds benchmarks/, or
    naming a path in it. Elsewhere (the package installed into another project's environment, where the pytest11
    entry point loads this plugin too) the plugin stays dormant: it adds no option, so names such as --model or
    --seeds stay free for that project, and it builds no session."""
    if not BENCHMARKS.is_dir():
        return False
    places = [cwd, *(cwd / a.split("::", 1)[0] for a in argv if not a.startswith("-"))]
    for place in places:
        try:
            resolved = place.resolve()
        except (OSError, RuntimeError):
            continue
        if resolved == ROOT or ROOT in resolved.parents:
            return True
    return False


def active(config) -> bool:
    """Whether this run registered the suite's options (see ``in_the_project``)."""
    return hasattr(config.option, "gab_profile")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    """The option group, built from the one declaration in suite/config/options.py (dest prefixed ``gab_``).

    Added here rather than in pytest_addoption because here the run's own arguments are known (also in a
    pytest-xdist worker and under ``pytest.main(args)``, where sys.argv says nothing), and it still comes before
    the project's conftest files and the full parse of the command line."""
    if in_the_project(Path(early_config.invocation_params.dir), [str(a) for a in args]):
        add_options(parser)


def pytest_addoption(parser, pluginmanager):
    """Loaded by the root conftest.py (a checkout that is not installed: no entry point), this plugin arrives while
    pytest_load_initial_conftests is already running, so it adds its options here; it is inside the project by
    construction. Loaded by the entry point, it waits for pytest_load_initial_conftests (above)."""
    if pluginmanager.get_plugin(ENTRY_POINT) is None:
        add_options(parser)


def add_options(parser) -> None:
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


def benchmarks_selected(config) -> bool:
    """Whether this run benchmarks: it names the benchmarks folder (or a file in it), or sets one of our options."""
    for arg in config.args:
        path = Path(str(arg).split("::", 1)[0]).resolve()
        if path == BENCHMARKS or BENCHMARKS in path.parents:
            return True
    return any(config.getoption(f"gab_{o.dest}") not in (None, False) for o in OPTIONS)


def bench_session(config) -> BenchSession:
    """This run's benchmark session, built on first use: every check before training is made here (one line)."""
    if SESSION not in config.stash:
        try:
            config.stash[SESSION] = BenchSession(_options(config))
        except SuiteError as exc:
            raise pytest.UsageError(str(exc)) from None
        for name, doc in config.stash[SESSION].marker_docs().items():
            config.addinivalue_line("markers", f"{name}: {doc}")
        if not hasattr(config, "workerinput"):
            _note_interrupts(config.stash[SESSION])
    return config.stash[SESSION]


def pytest_configure(config):
    if not active(config):
        return  # another project's run: stay out of its way
    config.addinivalue_line("markers", "glue: a GLUE benchmark case (task x method)")
    config.addinivalue_line("markers", "diagnostic: a diagnose sweep case (run with -m diagnostic)")
    if not hasattr(config, "workerinput"):  # the controller owns results and files (also under xdist)
        config.pluginmanager.register(ResultCollector(config), "glue-bench-results")
    if not benchmarks_selected(config):
        return  # e.g. pytest tests: a session is built only if a benchmark case is collected after all
    if hasattr(config, "workerinput"):  # pytest-xdist worker: one GPU each when there are several
        device = device_for_worker(config.workerinput.get("workerid"), visible_gpus())
        if device is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = device
    bench_session(config)
    if config.pluginmanager.hasplugin("benchmark") and not config.getoption("benchmark_columns", None):
        config.option.benchmark_columns = BENCHMARK_COLUMNS  # read by pytest-benchmark's (trylast) configure


def pytest_unconfigure(config):
    progress.use(None)


class TerminalProgress:
    """Writes for ``suite.engine.progress`` through pytest's terminal reporter with output capture suspended: visible
    without -s, and always starting on a fresh line. The test file prefix that a line moved off its line is written
    again just before pytest writes the next result letter (``pytest_runtest_logreport``, registered as a plugin),
    so the letters still follow their file and a run of progress lines (heartbeats) has no prefix between them."""

    def __init__(self, config, reporter):
        self.capman = config.pluginmanager.get_plugin("capturemanager")
        self.reporter = reporter
        self.prefix = None  # the test file name a live bar moved off its line
        self.pending = None  # the test file name to write again before the next result letter

    def _free(self):
        return self.capman.global_and_fixture_disabled() if self.capman else contextlib.nullcontext()

    def line(self, text: str) -> None:
        with self._free():
            prefix = self._take_prefix()  # the test file name pytest wrote before its result letters
            if prefix is not None:
                self.pending = prefix
            self.reporter.write_line(text)
            self.reporter.flush()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report):
        """Before pytest writes the result letter: put the test file prefix back on a line of its own."""
        prefix, self.pending = self.pending, None
        if prefix is not None and self.reporter.currentfspath is None:
            with self._free():
                self.reporter.write(f"{os.path.relpath(prefix, self.reporter.startpath)} ")
                self.reporter.currentfspath = prefix

    def _take_prefix(self):
        current = self.reporter.currentfspath
        prefix, self.prefix = (current if isinstance(current, os.PathLike) else self.prefix), None
        return prefix

    def write(self, text: str) -> int:  # a file for tqdm
        with self._free():
            if isinstance(self.reporter.currentfspath, os.PathLike):
                self.prefix = self.reporter.currentfspath
            self.reporter.ensure_newline()
            self.reporter.write(text, flush=True)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True

    def output(self) -> progress.Output:
        return progress.Output(line=self.line, bar_file=self if self.reporter.isatty() else None)


class WorkerProgress:
    """Progress in a pytest-xdist worker, relayed live: a worker's stdout is execnet's channel to the controller,
    but its stderr is the controller's own (inherited), so each line is written there whole, with capture suspended
    and prefixed with the worker id ("[gw0] sst2/full seed 0: ..."). Per-seed and heartbeat lines then appear while
    the case runs, not at its end. They bypass the controller's terminal reporter, so on a terminal a line can land
    after pytest's progress letters; in a CI log (no bars, one line each) they read in order."""

    def __init__(self, config):
        self.capman = config.pluginmanager.get_plugin("capturemanager")
        self.prefix = f"[{config.workerinput.get('workerid', 'worker')}] "

    def line(self, text: str) -> None:
        with self.capman.global_and_fixture_disabled() if self.capman else contextlib.nullcontext():
            stream = sys.__stderr__
            if stream is not None:
                stream.write(f"{self.prefix}{text}\n")
                stream.flush()

    def output(self) -> progress.Output:
        return progress.Output(line=self.line, bar_file=None)


def case_id(case) -> str:
    method = re.sub(r"[\[\],\s]+", "_", case.method).strip("_").replace("+", "-")
    return f"{case.task}-{method}"


def _session_cases(config) -> list:
    """The session's cases; a mistake in selecting them (--shard 9/9 of 8 cases) is one usage line."""
    try:
        return bench_session(config).cases()
    except SuiteError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_generate_tests(metafunc):
    """Parametrize the suite's own tests only (marked glue / diagnostic): a ``case`` argument of another project's
    test, in an environment where this plugin is installed, is left alone."""
    if not active(metafunc.config):
        return
    if "diagnosis" in metafunc.fixturenames and metafunc.definition.get_closest_marker("diagnostic"):
        targets = [c for c in _session_cases(metafunc.config) if c.adapter_config is not None]
        metafunc.parametrize("diagnosis", [(c, f) for c in targets for f in FACTORS],
                             ids=[f"{case_id(c)}-{f}" for c in targets for f in FACTORS])
    if "case" in metafunc.fixturenames and metafunc.definition.get_closest_marker("glue"):
        cases = _session_cases(metafunc.config)
        metafunc.parametrize("case", [pytest.param(c, id=case_id(c),
                                                   marks=[getattr(pytest.mark, m) for m in case_marks(c)])
                                      for c in cases])


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Diagnostic sweeps are long: they run only when selected with -m diagnostic. Then the selected cases' local
    data is read and range-checked, before the first test runs: after -k and -m have deselected (hence trylast),
    so that ``-k mnli`` needs no QQP files (under xdist each worker checks what it collected)."""
    if not active(config):
        return
    _hide_diagnostics(config, items)
    selected = [c for c in map(_item_case, items) if c is not None]
    if not selected and SESSION not in config.stash:
        return  # no benchmark case (pytest tests): no session is built, no baseline read
    try:
        bench_session(config).check_data(selected)
    except SuiteError as exc:
        raise pytest.UsageError(str(exc)) from None


def _hide_diagnostics(config, items) -> None:
    if "diagnostic" in (config.option.markexpr or ""):
        return
    skipped = [i for i in items if i.get_closest_marker("diagnostic")]
    config.stash[HIDDEN_DIAGNOSTICS] = len(skipped)
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [i for i in items if not i.get_closest_marker("diagnostic")]


def _item_case(item) -> CaseSpec | None:
    params = getattr(getattr(item, "callspec", None), "params", {})
    if isinstance(params.get("case"), CaseSpec):
        return params["case"]
    if isinstance(params.get("diagnosis"), tuple):
        return params["diagnosis"][0]
    return None


def pytest_report_collectionfinish(config, start_path, items):
    n = config.stash.get(HIDDEN_DIAGNOSTICS, 0)
    if n:
        return (f"glue-adapter-bench: {n} of the deselected items {'are' if n != 1 else 'is'} diagnostic sweeps, "
                "hidden unless -m diagnostic (they are long)")
    return None


@pytest.fixture(scope="session")
def glue_session(request) -> BenchSession:
    """The benchmark session. Its progress (per-seed lines, live bars on a terminal) goes through pytest's terminal
    from now on, with capture suspended: on the controller; an xdist worker writes its lines to the controller's
    stderr (``WorkerProgress``)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if hasattr(request.config, "workerinput"):
        progress.use(WorkerProgress(request.config).output())  # relayed to the controller's stderr, live
    elif reporter is not None:
        terminal = TerminalProgress(request.config, reporter)
        if not request.config.pluginmanager.has_plugin("glue-bench-progress"):
            request.config.pluginmanager.register(terminal, "glue-bench-progress")
        progress.use(terminal.output())
    return bench_session(request.config)


@pytest.fixture
def record_case(request):
    """Attach a CaseResult to the test report (the controller collects it, also under pytest-xdist) and flat
    figures (metrics, throughput, then the judged verdict, baseline, delta, tolerance, gap) as JUnit properties
    (``record_property``'s way, without its warning under a strict junit_family: see ``strict_junit``)."""
    def record_property(name: str, value) -> None:
        request.node.user_properties.append((name, value))

    def record(result: CaseResult, fields: dict | None = None) -> None:
        if fields is None:
            record_property(RESULT_PROPERTY, json.dumps(result.to_dict()))
            fields = result.summary()
        for k, v in fields.items():
            if v is None:
                record_property(k, "")  # JUnit values are text: an empty one is "none" (no baseline, no gap)
            elif isinstance(v, (int, float, str)):
                record_property(k, v)
    return record


class PlainBenchmark:
    """What test_glue times a case with when pytest-benchmark is not loaded (-p no:benchmark): a plain call."""

    def __init__(self):
        self.extra_info: dict = {}

    def pedantic(self, target, args=(), kwargs=None, rounds=1, iterations=1):
        return target(*args, **(kwargs or {}))


@pytest.fixture
def bench(request):
    """pytest-benchmark's ``benchmark`` fixture, or a plain call without the plugin. The wall time of the timed
    call is attached to the report too (property timed_s): under pytest-xdist pytest-benchmark turns itself off,
    and the controller writes --benchmark-json from these."""
    if request.config.pluginmanager.hasplugin("benchmark"):
        inner = request.getfixturevalue("benchmark")
    else:
        inner = PlainBenchmark()
    return TimedBenchmark(inner, request.node)


class TimedBenchmark:
    def __init__(self, inner, node):
        self.inner, self.node = inner, node
        self.extra_info = inner.extra_info

    def pedantic(self, target, args=(), kwargs=None, rounds=1, iterations=1):
        def timed(*a, **kw):
            t0 = time.perf_counter()
            try:
                return target(*a, **kw)
            finally:
                self.node.user_properties.append((TIME_PROPERTY, round(time.perf_counter() - t0, 6)))
        return self.inner.pedantic(timed, args=args, kwargs=kwargs or {}, rounds=rounds, iterations=iterations)


def strict_junit(config) -> bool:
    """Whether the JUnit file should validate against the strict JUnit XSD: ``junit_family`` xunit2 (``-o
    junit_family=xunit2``). xunit1, the project's setting, writes per-case <properties> and file/line attributes,
    which that XSD rejects; under xunit2 pytest leaves out file/line, and the suite leaves out its properties."""
    try:
        return config.getini("junit_family") == "xunit2"
    except (ValueError, KeyError):
        return False


class ResultCollector:
    """Controller-side plugin: gathers CaseResults from test reports (they arrive from xdist workers too)."""

    def __init__(self, config):
        self.config = config
        self.timed: dict[str, tuple[str, float]] = {}  # result key -> (test node id, timed seconds)
        self.strict_junit = strict_junit(config)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report):
        props = [p for p in report.user_properties if p[0] == RESULT_PROPERTY]
        for prop in props:
            report.user_properties.remove(prop)  # figures stay as properties; the bulky JSON stays out of JUnit
            if report.when == "call":  # every phase's report carries the item's properties
                result = CaseResult.from_dict(json.loads(prop[1]))
                bench_session(self.config).add(result)
                seconds = [v for k, v in report.user_properties if k == TIME_PROPERTY]
                if seconds:
                    self.timed[result.key] = (report.nodeid, float(seconds[-1]))
        if props and self.strict_junit:  # a case's figures are in the results and benchmark JSON files
            report.user_properties.clear()


def _note_interrupts(bench: BenchSession) -> None:
    """Remember a Ctrl-C ourselves: if pytest's own interrupt report fails (see below), the session would finish
    with status OK, and an interrupted run must never write baselines. SIGTERM (CI cancellation) is made to behave
    as Ctrl-C (suite.signals): the results so far are written, baselines untouched, one line "terminated
    (SIGTERM): ...", and pytest's interrupted exit status 2."""
    def noted(name: str) -> None:
        bench.interrupted = True
        bench.interrupted_by = name

    signals.install(noted)


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
    """The controller writes files and decides whether the run fails (suite.gate.outcome: every gate over every
    result, also what needs all of them, such as the gap gate under xdist and shards)."""
    config = session.config
    if hasattr(config, "workerinput") or SESSION not in config.stash:
        return
    bench = config.stash[SESSION]
    interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or bench.interrupted
    lines, broken = bench.finish(interrupted=interrupted)
    if _xdist_benchmark_json(config):
        lines.append(_write_xdist_benchmark_json(config, bench))
    config.stash[FINISH_LINES] = lines
    if interrupted or config.option.collectonly:
        return
    result = bench.outcome(broken_files=broken)
    if result.failed:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if outcome.NOTHING_RAN in result.reasons:
        lines.append(f"ERROR: {outcome.NOTHING_RAN}")


def _xdist_benchmark_json(config) -> bool:
    """--benchmark-json under pytest-xdist, where pytest-benchmark disables itself and writes nothing."""
    return (config.pluginmanager.hasplugin("benchmark") and bool(config.getoption("benchmark_json", None))
            and config.getoption("dist", "no") != "no")


def _write_xdist_benchmark_json(config, bench: BenchSession) -> str:
    """The controller writes pytest-benchmark's JSON itself from the collected results (one round per case)."""
    import pytest_benchmark

    collector = config.pluginmanager.get_plugin("glue-bench-results")
    path = config.getoption("benchmark_json")
    machine = config.hook.pytest_benchmark_generate_machine_info(config=config)
    config.hook.pytest_benchmark_update_machine_info(config=config, machine_info=machine)
    commit = config.hook.pytest_benchmark_generate_commit_info(config=config)
    config.hook.pytest_benchmark_update_commit_info(config=config, commit_info=commit)
    doc = benchjson.document(bench.table_rows(), collector.timed if collector else {}, machine_info=machine,
                             commit_info=commit, version=pytest_benchmark.__version__)
    try:
        benchjson.write(path, doc)
    except OSError as exc:
        return f"ERROR (--benchmark-json): {exc.strerror or exc} ({path})"
    return f"benchmark data written to {path} (by glue-adapter-bench: pytest-benchmark is off under xdist)"


def _table_width(config, reporter) -> int | None:
    """Fit the summary table to a terminal; a log file or CI log keeps the full table (unless COLUMNS is set)."""
    if reporter.isatty() or os.environ.get("COLUMNS", "").isdigit():
        return config.get_terminal_writer().fullwidth
    return None


def pytest_terminal_summary(terminalreporter, config):
    if SESSION not in config.stash:
        return
    text = config.stash[SESSION].summary(width=_table_width(config, terminalreporter))
    lines = config.stash.get(FINISH_LINES, [])
    if text and _benchmark_table_shown(config):
        lines = [*lines, "pytest-benchmark's table times one round per case: model setup, training and evaluation "
                         "of its seeds (data loading and tokenizing excluded); train/s and eval/s above are per phase"]
    if text or lines:
        terminalreporter.write_sep("=", "glue-adapter-bench")
        for line in [text, *lines] if text else lines:
            terminalreporter.write_line(line)


def _benchmark_table_shown(config) -> bool:
    return (config.pluginmanager.hasplugin("benchmark") and config.getoption("dist", "no") == "no"
            and not config.getoption("benchmark_disable", False) and not config.getoption("benchmark_skip", False))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker per visible GPU when there are GPUs (each worker then takes its own); otherwise
    pytest-xdist's default (CPU count)."""
    if config is not None and not active(config):
        return None
    n = len(visible_gpus())
    return n or None


@pytest.hookimpl(optionalhook=True)  # pytest-benchmark's hook: absent under -p no:benchmark
def pytest_benchmark_update_machine_info(config, machine_info):
    """pytest-benchmark's machine info (in --benchmark-json / autosave) gets the versions and hardware that matter."""
    if not active(config):
        return
    machine_info["glue_bench"] = {"versions": package_versions(), "hardware": hardware()}


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config, benchmarks, output_json):
    """pytest-benchmark writes ``params`` from the parametrized objects (a CaseSpec: "UNSERIALIZABLE[...]"); make
    ``params.case`` the plain string the xdist controller writes too, ``task/method@model``."""
    if not active(config):
        return
    for bench in output_json.get("benchmarks", []):
        bench["params"] = benchjson.plain_params(bench.get("params"))
