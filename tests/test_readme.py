"""README.md's option table (section "## Options") lists exactly the declared options, one row each.

The table is parsed from that one section only: the rows of the first Markdown table between the "## Options"
heading and the next heading of level 1 or 2. In each row the first cell names the option: its flag in backticks,
followed by its metavar for an option that takes a value (`--glue-dir DIR`), then any aliases as
"(alias `--profile`)". Other cells may mention flags freely; they are not read.
"""

from __future__ import annotations

import re
from pathlib import Path

from suite.config.options import OPTIONS

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Options"
COLUMNS = ["option", "meaning", "default"]
FLAG = re.compile(r"`(--[a-z0-9][a-z0-9-]*)(?: ([^`]+))?`")


def _cells(line: str) -> list[str]:
    assert line.startswith("|") and line.endswith("|"), f"not a table row: {line!r}"
    return [cell.strip() for cell in line[1:-1].split("|")]


def option_table() -> list[list[str]]:
    """The data rows of the option table, each as its list of cells."""
    lines = README.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == SECTION]
    assert len(starts) == 1, f"README.md must have exactly one '{SECTION}' heading, found {len(starts)}"
    section = []
    for line in lines[starts[0] + 1:]:
        if re.match(r"#{1,2} ", line):
            break
        section.append(line.rstrip())
    table_at = next((i for i, line in enumerate(section) if line.startswith("|")), None)
    assert table_at is not None, f"no table under '{SECTION}'"
    table = []
    for line in section[table_at:]:
        if not line.startswith("|"):
            break
        table.append(line)
    assert [c.lower() for c in _cells(table[0])] == COLUMNS, f"header row: {table[0]!r}"
    assert set(table[1].replace("|", "").replace(" ", "")) <= set("-:"), f"separator row: {table[1]!r}"
    rows = [_cells(line) for line in table[2:]]
    for row in rows:
        assert len(row) == len(COLUMNS), f"a row of the option table has {len(row)} cells, not {len(COLUMNS)}: {row}"
    return rows


def _row_flags(first_cell: str) -> tuple[str, str | None, list[str]]:
    """(flag, metavar, aliases) named in the option cell of one row."""
    found = FLAG.findall(first_cell)
    assert found, f"no `--flag` in the option cell {first_cell!r}"
    (flag, metavar), rest = found[0], found[1:]
    assert first_cell.startswith(f"`{flag}"), f"the option cell must start with the flag: {first_cell!r}"
    aliases = [name for name, _ in rest]
    for _name, meta in rest:
        assert not meta, f"write an alias without a metavar: {first_cell!r}"
    if aliases:
        assert "(alias" in first_cell, f"extra flags in the option cell must be marked as aliases: {first_cell!r}"
    return flag, metavar or None, aliases


def test_option_table_matches_the_declared_options():
    rows = option_table()
    declared = {o.flag: o for o in OPTIONS}
    declared_names = set(declared) | {a for o in OPTIONS for a in o.aliases}

    seen: dict[str, list[str]] = {}
    table_names: list[str] = []
    for row in rows:
        flag, metavar, aliases = _row_flags(row[0])
        assert flag not in seen, f"{flag} has more than one row in the README option table"
        seen[flag] = row
        table_names += [flag, *aliases]
        assert row[1], f"{flag}: empty meaning"
        assert row[2], f"{flag}: empty default"
        o = declared.get(flag)
        if o is None:
            continue  # reported below with every other undeclared flag
        assert sorted(aliases) == sorted(o.aliases), f"{flag}: aliases in README {aliases}, declared {list(o.aliases)}"
        if o.is_switch:
            assert metavar is None, f"{flag} is a switch; the README gives it a value {metavar!r}"
        else:
            assert metavar == o.metavar, f"{flag}: metavar in README {metavar!r}, declared {o.metavar!r}"

    assert len(table_names) == len(set(table_names)), f"a flag is named twice in the README option table: {table_names}"
    missing = sorted(declared_names - set(table_names))
    undeclared = sorted(set(table_names) - declared_names)
    assert not missing, f"declared in suite/config/options.py but missing from README's option table: {missing}"
    assert not undeclared, f"in README's option table but not declared in suite/config/options.py: {undeclared}"
