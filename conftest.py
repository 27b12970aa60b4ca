"""The pytest plugin is suite/pytest_plugin.py, registered by the ``pytest11`` entry point of the installed package
(pyproject.toml). This file only loads it for a checkout that is not installed (the source folder on sys.path)."""

import sys

pytest_plugins = [] if "suite.pytest_plugin" in sys.modules else ["suite.pytest_plugin"]
