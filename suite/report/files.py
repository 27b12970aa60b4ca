"""Reports people look at: report.md, a self-contained report.html, PNG plots, and the GitHub step summary.

Input is a list of ``report.Row`` (from a finished session or from results files); output goes to one folder.
Plots use matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

from suite import files
from suite.config.published import SOURCE as PUBLISHED_SOURCE
from suite.config.published import published
from suite.gate.baselines import write_text_atomic
from suite.report import table as report
from suite.report.table import Row

PLOTS = {
    "quality_vs_params.png": "Quality vs trainable parameters per task (Pareto front in red)",
    "gap_to_full.png": "Gap to full fine-tuning per method (same run; bars: sd over paired seeds)",
    "train_throughput.png": "Training throughput per method",
}


def write_report(table_rows: list[Row], out_dir: str | os.PathLike, *,
                 title: str = "glue-adapter-bench report", warnings: list[str] | None = None,
                 gates: list[str] = ()) -> list[Path]:
    """report.md, report.html and the plots (each written atomically), and the GitHub step summary. A step
    summary that cannot be written is a warning line added to ``warnings``, never a failure of the report."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pngs = write_plots(table_rows, out)
    md = out / "report.md"
    write_text_atomic(md, to_markdown(table_rows, title, [p.name for p in pngs], gates))
    page = out / "report.html"
    write_text_atomic(page, to_html(table_rows, title, pngs, gates))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with files.open_append(summary) as f:  # a FIFO or device is refused, never a blocking open
                f.write(f"## {md_text(title)}\n\n{report.to_markdown(table_rows)}\n\n")
        except (OSError, files.Unreadable) as exc:
            if warnings is not None:
                why = exc if isinstance(exc, files.Unreadable) else exc.strerror or exc
                warnings.append(f"warning: GITHUB_STEP_SUMMARY {md_text(summary)[:200]} cannot be written "
                                f"({why}); the step summary is left out")
    return [md, page, *pngs]


def md_text(value) -> str:
    """A value from a results file as Markdown text: one line, HTML escaped (no raw tags reach a step summary),
    no backticks or table bars that would end a code span or a cell."""
    text = " ".join(str(value).split())
    return html.escape(text, quote=False).replace("`", "'").replace("|", "\\|")


# --- numbers shared by every rendering ---------------------------------------------------------------------

def paired_gap(row: Row) -> tuple[float, float] | None:
    """Mean and sd over paired seeds of (method - full fine-tuning), as ``suite.gate.verdicts`` computed it."""
    return None if row.gap is None else (row.gap, row.gap_sd or 0.0)


def pareto(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points (params, quality) that no other point beats: fewer or equal params and higher quality."""
    front = []
    for i, (p, q) in enumerate(points):
        dominated = any((p2 <= p and q2 >= q) and (p2 < p or q2 > q) for j, (p2, q2) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def _provenance(table_rows: list[Row]) -> list[str]:
    if not table_rows:
        return []
    r = table_rows[0].result
    prov = r.provenance or {}
    hw, v, git = prov.get("hardware", {}), prov.get("versions", {}), prov.get("git", {})
    m = md_text
    models = report.models(table_rows)
    return [
        f"profile **{m(r.profile)}**, model{'s' if len(models) > 1 else ''} "
        f"{', '.join(f'`{m(model)}`' for model in models)}, data `{m(r.data_origin)}`, "
        f"seeds {m(r.config.get('seeds'))}",
        f"hardware: {m(hw.get('name', '?'))} ({m(hw.get('device', '?'))} x{m(hw.get('count', '?'))})",
        "versions: " + ", ".join(f"{m(k)} {m(val)}" for k, val in v.items()),
        f"git commit {m(str(git.get('commit') or '?')[:12])}{' (dirty)' if git.get('dirty') else ''}, "
        f"recorded {m(prov.get('date', '?'))}",
    ]


def _task_table(task: str, table_rows: list[Row], show_published: bool) -> tuple[list[str], list[list[str]]]:
    with_model = len(report.models(table_rows)) > 1
    rows = [r for r in table_rows if r.result.task == task]
    metric_keys = sorted({k for r in rows for run in r.result.runs for k in run.metrics})
    head = ["method", *metric_keys, "seeds (primary)", "gap vs full", "train/s", "eval/s", "speed vs full",
            "trainable params", "trainable %", "head params", "peak MB", "verdict"]
    if show_published:
        head.append("published (context)")
    body = []
    for row in rows:
        r, p = row.result, row.result.params
        g = paired_gap(row)
        cells = [report.method_label(r, with_model)]
        for k in metric_keys:
            s = r.metric(k)
            cells.append("-" if not s.n else f"{s.mean:.2f}" + (f" ± {s.sd:.2f}" if s.n > 1 else ""))
        cells += [
            ", ".join(f"{run.seed}: {run.metrics.get(r.primary_metric, float('nan')):.2f}"
                      for run in r.runs if run.status == "ok") or "failed",
            "-" if g is None else f"{g[0]:+.2f}" + (f" ± {g[1]:.2f}" if g[1] else ""),
            f"{r.mean_of('train_samples_per_s'):.0f}", f"{r.mean_of('eval_samples_per_s'):.0f}",
            "-" if row.speed is None else f"{row.speed:.2f}x",
            f"{p.trainable:,}" if p else "-", f"{p.trainable_pct:.2f}" if p else "-", f"{p.head:,}" if p else "-",
            f"{r.mean_of('peak_mem_mb'):.0f}", row.verdict.status,
        ]
        if show_published:
            v = published(r.config.get("model", ""), r.task, r.method)
            cells.append("-" if v is None else f"{v:.2f} (published)")
        body.append(cells)
    return head, body


def _tasks(table_rows: list[Row]) -> list[str]:
    return list(dict.fromkeys(r.result.task for r in table_rows))


def to_markdown(table_rows: list[Row], title: str, plot_files: list[str], gates: list[str] = ()) -> str:
    """``gates``: what the run-level gates (--max-gap) concluded, one line each, after the verdict notes."""
    show_pub = any(r.result.profile == "paper" for r in table_rows)
    out = [f"# {title}", "", *[f"- {line}" for line in _provenance(table_rows)], "", "## Summary", "",
           report.to_markdown(table_rows), ""]
    notes = [r.verdict.message for r in table_rows if r.verdict.status not in ("pass", "updated", "unknown")]
    if notes:
        out += ["Verdict notes:", "", *[f"- {md_text(n)}" for n in notes], ""]
    if gates:
        out += ["Gates:", "", *[f"- {md_text(g)}" for g in gates], ""]
    for task in _tasks(table_rows):
        head, body = _task_table(task, table_rows, show_pub)
        out += [f"## {task}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(md_text(x) for x in c) + " |" for c in body] + [""]
    if show_pub:
        out += [f"Published numbers are context only ({PUBLISHED_SOURCE}); they never gate.", ""]
    out += ["## Plots", ""] + [f"![{PLOTS[f]}]({f})" for f in plot_files] + [""]
    return "\n".join(out)


def _html_table(head: list[str], body: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f'<td class="{_cls(c)}">{html.escape(c)}</td>' for c in row) + "</tr>"
                  for row in body)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{trs}</tbody></table>"


def _cls(cell: str) -> str:
    return {"regression": "bad", "failed": "bad", "improved": "good", "pass": "good", "stale": "warn",
            "no-baseline": "warn"}.get(cell, "")


def to_html(table_rows: list[Row], title: str, pngs: list[Path], gates: list[str] = ()) -> str:
    show_pub = any(r.result.profile == "paper" for r in table_rows)
    summary_head = list(report.COLUMNS)
    summary_body = [report._cells(r, len(report.models(table_rows)) > 1) for r in table_rows]
    parts = [f"<h1>{html.escape(title)}</h1>", "<ul>" + "".join(
        f"<li>{html.escape(html.unescape(line.replace('**', '').replace('`', '').replace(chr(92) + '|', '|')))}</li>"
        for line in _provenance(table_rows)) + "</ul>",
        "<h2>Summary</h2>", _html_table(summary_head, summary_body)]
    notes = [r.verdict.message for r in table_rows if r.verdict.status not in ("pass", "updated", "unknown")]
    if notes:
        parts.append("<ul class='notes'>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    if gates:
        parts.append("<h2>Gates</h2><ul class='gates'>" + "".join(f"<li>{html.escape(g)}</li>" for g in gates)
                     + "</ul>")
    for task in _tasks(table_rows):
        parts += [f"<h2>{html.escape(task)}</h2>", _html_table(*_task_table(task, table_rows, show_pub))]
    if show_pub:
        parts.append(f"<p class='note'>Published numbers are context only ({html.escape(PUBLISHED_SOURCE)}); "
                     "they never gate.</p>")
    parts.append("<h2>Plots</h2>")
    for p in pngs:
        data = base64.b64encode(p.read_bytes()).decode()
        parts.append(f"<figure><img alt='{html.escape(PLOTS[p.name])}' src='data:image/png;base64,{data}'>"
                     f"<figcaption>{html.escape(PLOTS[p.name])}</figcaption></figure>")
    style = ("body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0;"
             "font-size:13px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f3f3f3}"
             "td.bad{background:#fdd;font-weight:bold}td.good{background:#dfd}td.warn{background:#ffd}"
             "img{max-width:100%;border:1px solid #ddd}figure{margin:1em 0}.note{color:#555}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


# --- plots -------------------------------------------------------------------------------------------------

def write_plots(table_rows: list[Row], out: Path) -> list[Path]:
    """Three PNGs: quality vs trainable parameters (Pareto front), the gap to full fine-tuning, throughput."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in table_rows if r.result.ok and r.result.params]
    if not ok:
        return []
    return [save_png(_quality_vs_params(plt, ok), out / "quality_vs_params.png"),
            save_png(_gap_to_full(plt, ok), out / "gap_to_full.png"),
            save_png(_train_throughput(plt, ok), out / "train_throughput.png")]


def _quality_vs_params(plt, ok: list[Row]):
    """Quality vs trainable parameters, one panel per task, with the Pareto front."""
    tasks = _tasks(ok)
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4.2), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        rows = [r for r in ok if r.result.task == task]
        pts = [(r.result.params.trainable, r.result.metric().mean) for r in rows]
        ax.scatter([p for p, _ in pts], [q for _, q in pts], color="#1f77b4", zorder=3)
        for (p, q), r in zip(pts, rows):
            ax.annotate(report.method_label(r.result, len(report.models(ok)) > 1), (p, q),
                        textcoords="offset points", xytext=(4, 4), fontsize=8)
        front = pareto(pts)
        ax.plot([pts[i][0] for i in front], [pts[i][1] for i in front], color="#d62728", marker="o", mfc="none",
                ms=11, lw=1.5, label="Pareto front", zorder=4)
        ax.set_xscale("log")
        ax.margins(x=0.25, y=0.2)
        ax.set_xlabel("trainable parameters (log scale, head included)")
        ax.set_ylabel(f"{rows[0].result.primary_metric} (points)")
        ax.set_title(task)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _gap_to_full(plt, ok: list[Row]):
    """The gap to full fine-tuning per adapter, paired over seeds, with its sd."""
    gap_rows = [(r, paired_gap(r)) for r in ok]
    gap_rows = [(r, g) for r, g in gap_rows if g is not None]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(gap_rows) + 2), 4.2))
    if gap_rows:
        labels = [f"{r.result.task}\n{report.method_label(r.result, len(report.models(ok)) > 1)}" for r, _ in gap_rows]
        vals = [g[0] for _, g in gap_rows]
        ax.bar(range(len(vals)), vals, yerr=[g[1] for _, g in gap_rows], capsize=4,
               color=["#d62728" if v < 0 else "#2ca02c" for v in vals])
        ax.set_xticks(range(len(vals)), labels, fontsize=8)
    else:
        ax.text(0.5, 0.5, "no adapter with a full fine-tuning reference in this run", ha="center",
                transform=ax.transAxes)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_ylabel("gap to full fine-tuning (points)")
    ax.set_title("Adapter gap to full fine-tuning, same run")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def _train_throughput(plt, ok: list[Row]):
    """Training samples per second per case (grey: full fine-tuning)."""
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(ok) + 2), 4.2))
    ax.bar(range(len(ok)), [r.result.mean_of("train_samples_per_s") for r in ok],
           color=["#7f7f7f" if r.result.method == "full" else "#1f77b4" for r in ok])
    ax.set_xticks(range(len(ok)), [f"{r.result.task}\n{report.method_label(r.result, len(report.models(ok)) > 1)}"
                                   for r in ok], fontsize=8)
    ax.set_ylabel("training samples / s")
    ax.set_title("Training throughput (grey: full fine-tuning)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def save_png(fig, path: Path) -> Path:
    """The figure as a PNG, written atomically (a FIFO or device at ``path`` is refused, never written into)."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_text_atomic(path, buf.getvalue())
    return path
