"""Rendering results: the summary table (terminal and Markdown).

Pure renderers over ``suite.gate.verdicts.Row``: every number they show (verdict, gap, speed ratio) was computed by
``suite.gate.verdicts``; nothing here judges.
"""

from __future__ import annotations

from suite.gate.verdicts import Row

COLUMNS = ("task", "method", "metric", "value", "baseline", "delta", "tol", "verdict", "gap_vs_full",
           "train/s", "eval/s", "speed_vs_full", "trainable%")


def models(table_rows) -> list[str]:
    """The models of these rows, in order of appearance."""
    return list(dict.fromkeys(str(row.result.config.get("model")) for row in table_rows))


def method_label(result, with_model: bool) -> str:
    """The method, with ``@model`` when the table holds several models (each case once: task/method@model)."""
    return f"{result.method}@{result.config.get('model')}" if with_model else result.method


def _cells(row: Row, with_model: bool = False) -> list[str]:
    r, v = row.result, row.verdict
    if r.ok:
        s = r.metric()
        value = f"{s.mean:.2f}" + (f"±{s.sd:.2f}" if s.n > 1 else "")
    else:
        value = "-"
    p = r.params
    return [
        r.task, method_label(r, with_model), r.primary_metric, value,
        "-" if v.baseline is None else f"{v.baseline:.2f}",
        "-" if v.delta is None else f"{round(v.delta, 2) + 0.0:+.2f}",  # no "-0.00"
        "-" if v.tolerance is None else f"{v.tolerance:.2f}",
        v.status,
        "-" if row.gap is None else f"{row.gap:+.2f}",
        f"{r.mean_of('train_samples_per_s'):.0f}" if r.ok else "-",
        f"{r.mean_of('eval_samples_per_s'):.0f}" if r.ok else "-",
        "-" if row.speed is None else f"{row.speed:.2f}x",
        f"{p.trainable_pct:.2f}" if p else "-",
    ]


# Narrow terminals: first the headers shorten, then columns go in this order (the first goes first) until the table
# fits; task, method, value and verdict always stay. The full table is in the results file and the report.
SHORT = {"baseline": "base", "gap_vs_full": "gap", "speed_vs_full": "speed", "trainable%": "train%"}
DROP_ORDER = ("eval/s", "trainable%", "speed_vs_full", "tol", "metric", "train/s", "baseline", "delta",
              "gap_vs_full")
METHOD_CAP = 24  # a long adapters config string is cut to this before any column goes


def _layout(body: list[list[str]]) -> list[str]:
    widths = [max(len(line[i]) for line in body) for i in range(len(body[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _cut(body: list[list[str]], col: int, cap: int) -> None:
    for line in body[1:]:
        if len(line[col]) > cap:
            line[col] = line[col][:cap - 1] + "~"


def to_text(table_rows: list[Row], width: int | None = None) -> str:
    """The summary table; with ``width``, made to fit that many columns (headers shortened, then the least
    important columns dropped, then long method names cut), with a note naming what was left out."""
    with_model = len(models(table_rows)) > 1
    body = [list(COLUMNS)] + [_cells(r, with_model) for r in table_rows]
    lines = _layout(body)
    if width is None or max(map(len, lines)) <= width:
        return "\n".join(lines)
    body[0] = [SHORT.get(c, c) for c in COLUMNS]
    _cut(body, COLUMNS.index("method"), METHOD_CAP)
    keep = list(range(len(COLUMNS)))
    dropped: list[str] = []
    for name in DROP_ORDER:
        lines = _layout([[line[i] for i in keep] for line in body])
        if max(map(len, lines)) <= width:
            break
        keep.remove(COLUMNS.index(name))
        dropped.append(name)
    sub = [[line[i] for i in keep] for line in body]
    lines = _layout(sub)
    over = max(map(len, lines)) - width
    if over > 0:  # still too wide: cut the method column further, keeping 8 characters
        m = keep.index(COLUMNS.index("method"))
        _cut(sub, m, max(8, max(len(line[m]) for line in sub) - over))
        lines = _layout(sub)
    if dropped:
        import textwrap

        lines += textwrap.wrap(f"({len(dropped)} column{'s' if len(dropped) > 1 else ''} left out to fit {width} "
                               f"columns: {', '.join(dropped)}; the results file and report have them)", width)
    return "\n".join(lines)


def to_markdown(table_rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    with_model = len(models(table_rows)) > 1
    lines += ["| " + " | ".join(_cells(r, with_model)) + " |" for r in table_rows]
    return "\n".join(lines)
