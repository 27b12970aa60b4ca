"""The shape of the package: layers and the import policy (suite/__init__.py), sizes on the run path, the pytest
plugin staying out of `pytest tests`, and every command-line argument documented."""

import argparse
import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, clean_env

from suite import pytest_plugin
from suite.commands import build_parser

HEAVY = ("torch", "transformers", "adapters", "datasets", "evaluate", "accelerate", "matplotlib", "scipy", "sklearn")
MAX_FUNCTION_LINES, MAX_CLASS_LINES = 60, 150


def test_the_import_contract_holds():
    """import-linter's layers contract (pyproject.toml): no module imports a layer above its own."""
    proc = subprocess.run([sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
                           "sys.exit(lint_imports())"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "1 kept, 0 broken" in proc.stdout, proc.stdout[-3000:]


def test_light_modules_import_no_heavy_library():
    """The session, every command and the plugin import in a fresh interpreter without torch & co."""
    code = ("import json, sys; import suite.session.bench, suite.commands, suite.pytest_plugin, suite.__main__; "
            f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def _defs(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node, node.end_lineno - node.lineno + 1


def test_no_long_function_or_class():
    """No function over 60 lines and no class over 150 anywhere in suite/ (the run path included)."""
    too_long = []
    for path in sorted((ROOT / "suite").rglob("*.py")):
        for node, lines in _defs(path):
            limit = MAX_CLASS_LINES if isinstance(node, ast.ClassDef) else MAX_FUNCTION_LINES
            if lines > limit:
                too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines} lines > {limit})")
    assert not too_long, too_long


def test_library_code_does_not_import_pytest():
    offenders = []
    for path in sorted((ROOT / "suite").rglob("*.py")):
        if path.name == "pytest_plugin.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] in ("pytest", "_pytest") for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders


def test_pytest_tests_builds_no_benchmark_session(request):
    """This very run (`pytest tests`): the plugin is loaded, but no session was built, so no baseline was read and
    no environment variable was changed on its account."""
    assert pytest_plugin.active(request.config)  # loaded, its options registered (in xdist workers too)
    assert pytest_plugin.SESSION not in request.config.stash
    assert not pytest_plugin.benchmarks_selected(request.config)


def test_the_plugin_knows_a_benchmark_run(tmp_path):
    class Config:
        def __init__(self, args, **given):
            self.args, self.given = args, given

        def getoption(self, name):
            return self.given.get(name)

    bench = str(ROOT / "benchmarks")
    assert pytest_plugin.benchmarks_selected(Config([bench]))
    assert pytest_plugin.benchmarks_selected(Config([f"{bench}/test_glue.py::test_glue[sst2-full]"]))
    assert pytest_plugin.benchmarks_selected(Config([str(tmp_path)], gab_strict_baselines=True))
    assert not pytest_plugin.benchmarks_selected(Config([str(ROOT / "tests")]))


def _actions(parser: argparse.ArgumentParser, path: str = "python -m suite"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _actions(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield path, action


def test_every_argument_of_every_command_has_help():
    missing = [f"{path}: {a.option_strings or a.dest}" for path, a in _actions(build_parser()) if not a.help]
    assert not missing, missing


def test_the_console_command_is_declared():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'glue-bench = "suite.commands:console"' in text
    assert 'glue_adapter_bench = "suite.pytest_plugin"' in text  # the pytest11 entry point


def test_the_root_conftest_only_hands_over():
    source = (ROOT / "conftest.py").read_text()
    assert len(source.splitlines()) < 10 and "suite.pytest_plugin" in source
    assert os.path.exists(ROOT / "suite" / "pytest_plugin.py")


@pytest.mark.e2e
def test_another_projects_tests_are_left_alone(tmp_path):
    """Installed into another project's environment (the pytest11 entry point loads the plugin there too), the
    plugin stays dormant: it registers no option, so that project's own --model and --seeds work, builds no session
    and parametrizes nothing of theirs (a test with its own ``case`` argument runs as written)."""
    (tmp_path / "conftest.py").write_text(
        "def pytest_addoption(parser):\n    parser.addoption('--model', default='m')\n"
        "    parser.addoption('--seeds', default='s')\n")
    (tmp_path / "test_theirs.py").write_text(
        "import pytest\n\n@pytest.mark.parametrize('case', [1, 2])\ndef test_it(case, request):\n"
        "    assert case in (1, 2) and request.config.getoption('--model') == 'x'\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path), "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(tmp_path), "--model", "x"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env=clean_env())
    assert proc.returncode == 0 and "2 passed" in proc.stdout, proc.stdout + proc.stderr
    assert "glue-adapter-bench" not in proc.stdout


def test_the_plugin_is_active_only_in_this_project(tmp_path):
    assert pytest_plugin.in_the_project(cwd=ROOT, argv=[])
    assert pytest_plugin.in_the_project(cwd=ROOT / "tests", argv=[])
    assert pytest_plugin.in_the_project(cwd=tmp_path, argv=[str(ROOT / "benchmarks"), "-k", "mnli"])
    assert pytest_plugin.in_the_project(cwd=tmp_path, argv=[f"{ROOT}/benchmarks/test_glue.py::test_glue[sst2-full]"])
    assert not pytest_plugin.in_the_project(cwd=tmp_path, argv=["-q", "tests"])


@pytest.mark.e2e
def test_an_uninstalled_checkout_loads_the_plugin_through_the_root_conftest():
    """Without the entry point (-p no:glue_adapter_bench stands for a checkout that is not installed), the root
    conftest.py loads the plugin and its options work."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "--collect-only", "-q", "-p",
                           "no:glue_adapter_bench", "-p", "no:cacheprovider", "--model", "tiny", "--tasks", "sst2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=clean_env())
    assert proc.returncode == 0 and "test_glue[sst2-full]" in proc.stdout, proc.stdout + proc.stderr


def _requirements():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    from packaging.requirements import Requirement

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {r.name: r for r in map(Requirement, deps)}


def _pins(name):
    lines = (ROOT / "constraints" / name).read_text().splitlines()
    return dict(line.split("==") for line in lines if line and not line.startswith("#"))


def test_adapters_and_transformers_are_ranges_that_hold_the_pinned_and_the_oldest_pair():
    """pyproject declares ranges, so installing the suite keeps a project's own adapters release; `make venv`
    installs the pinned pair (constraints/pinned.txt), `make test-oldest` the oldest (constraints/oldest.txt)."""
    from importlib.metadata import version

    reqs = _requirements()
    for name in ("adapters", "transformers"):
        assert not any(s.operator in ("==", "===") for s in reqs[name].specifier), reqs[name]  # a range, not a pin
    pinned, oldest = _pins("pinned.txt"), _pins("oldest.txt")
    assert set(pinned) == set(oldest) == {"adapters", "transformers"}
    for pair in (pinned, oldest):
        assert all(reqs[name].specifier.contains(v) for name, v in pair.items()), pair
    assert pinned == {"adapters": "1.3.0", "transformers": "4.57.6"}
    assert oldest == {"adapters": "1.0.1", "transformers": "4.45.2"}
    assert not reqs["adapters"].specifier.contains("1.4.0") and not reqs["transformers"].specifier.contains("5.0.0")
    # the venv the tests run in holds a tested pair: the pinned one (`make`; the baselines were recorded with it) or
    # the oldest (`make test-oldest`), never a mix
    assert {n: version(n) for n in pinned} in (pinned, oldest)


@pytest.mark.e2e
def test_make_installs_the_pinned_pair_and_stamps_on_content_not_time(tmp_path):
    """`make -n venv` against a venv whose stamp holds the current hash does nothing, even after pyproject.toml is
    touched (a fresh clone); a changed TORCH_SPEC or constraints file reinstalls, with `-c constraints/pinned.txt`."""
    import shutil

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = tmp_path / "venv"
    venv.mkdir()

    # a make of its own, not a sub-make of `make test` (which would add "make[1]: Entering directory" lines)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}

    def dry(*extra):
        return subprocess.run(["make", "-n", "venv", f"VENV={venv}", *extra], cwd=ROOT, capture_output=True,
                              text=True, timeout=60, env=env).stdout

    plan = dry()
    assert "pip install -q -c constraints/pinned.txt -e" in plan
    [stamp] = [line.split()[1] for line in plan.splitlines() if line.startswith("echo ") and ".installed" in line]
    (venv / ".installed").write_text(stamp + "\n")
    os.utime(venv / ".installed", (0, 0))  # older than pyproject.toml, as after a fresh clone
    assert "pip install" not in dry()
    assert "pip install" in dry("TORCH_SPEC=torch==2.2.0")
    assert "-c constraints/oldest.txt" in dry("PINNED=constraints/oldest.txt")
