"""A diagnosis's files: diagnosis.md (``to_markdown``), diagnosis.png (``plot``) and diagnosis.json (``write``);
``plain_text``: the Markdown as a terminal shows it."""

from __future__ import annotations

import re
from pathlib import Path

from suite.gate.baselines import write_atomic, write_text_atomic
from suite.report.files import save_png
from suite.tools.diagnose.effects import _interval
from suite.tools.diagnose.runner import Diagnosis


def _num(x, fmt="+.2f") -> str:
    return "-" if x is None else format(x, fmt)


def to_markdown(d: Diagnosis, plot_name: str | None = None) -> str:
    if d.gap_verdict == "one seed":
        gap_line = "one seed: no noise estimate"
    else:
        gap_line = (f"paired over {len(d.seeds)} seeds: sd {d.gap_sd:.2f}, {100 * (1 - d.alpha):g}% t interval "
                    f"{_interval(d.gap_ci)}, {d.gap_verdict}")
    out = [f"# Diagnosis: {d.method} on {d.task}", "",
           f"profile {d.profile}, seeds {d.seeds}; full fine-tuning {d.full_metric:.2f}, {d.method} "
           f"{d.adapter_metric:.2f}: gap **{d.gap:+.2f}** points ({gap_line}).", "",
           *([f"**{d.warning}**", ""] if d.warning else []),
           f"Statistics: {d.statistics}.", "", "## Conclusion", "", d.conclusion, "", "## Pitfall checks", ""]
    out += [f"- {'ok' if f.ok else '**PROBLEM**'} ({f.check}): {f.message}" for f in d.findings] or ["- (skipped)"]
    out += ["", "## What each factor does", "",
            "| factor | variant | effect (points) | Holm-corrected interval | Holm p | gap with it | % of the gap "
            "| verdict |",
            "|---|---|---|---|---|---|---|---|"]
    for e in d.effects:
        if e.closed is None:
            out.append(f"| {e.factor} | - | - | - | - | - | - | {e.verdict}: {e.skipped} |")
            continue
        verdict = e.verdict + (f" ({', '.join(e.worse)})" if e.verdict == "makes it worse" else "")
        out.append(f"| {e.factor} | {e.best_label} | {e.closed:+.2f} | {_interval(e.ci_holm)} "
                   f"| {_num(e.p_holm, '.3g')} | {e.best_gap:+.2f} | {_num(e.closed_pct, '.0f')} | {verdict} |")
    out += ["", "## Every variant", "",
            "| factor | variant | method | lr | epochs | metric | gap to full | effect per seed | effect | "
            f"{100 * (1 - d.alpha):g}% interval | Holm p | corrected interval | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r, v in zip(d.runs, d.variants):
        metric = "failed" if r["metric"] is None else f"{r['metric']:.2f}"
        per_seed = ", ".join(f"{x:+.2f}" for x in v.diffs) or "-"
        out.append(f"| {r['factor']} | {r['label']} | `{r['method']}` | {r['lr']:g} | {r['epochs']} | {metric} | "
                   f"{_num(r['gap'])} | {per_seed} | {_num(v.mean)} | {_interval(v.ci)} | {_num(v.p_holm, '.3g')} | "
                   f"{_interval(v.ci_holm)} | {v.verdict} |")
    if plot_name:
        out += ["", f"![effect per factor]({plot_name})"]
    return "\n".join(out) + "\n"


def _plain_cells(line: str) -> list[str]:
    return [_plain_inline(c.strip()) for c in line.strip().strip("|").split("|")]


def _plain_inline(text: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*|`([^`]*)`", lambda m: m.group(1) or m.group(2) or "", text)


def plain_text(markdown: str) -> str:
    """Markdown (headings, bold, code, pipe tables) as plain text for a terminal: headings underlined, emphasis
    dropped, tables as aligned columns. Piped output stays Markdown (it pastes into a step summary or an issue)."""
    out: list[str] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                if not re.fullmatch(r"\|[-|: ]+\|", lines[i].strip()):
                    block.append(_plain_cells(lines[i]))
                i += 1
            widths = [max(len(r[c]) for r in block if c < len(r)) for c in range(max(map(len, block)))]
            out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in block]
            continue
        heading = re.match(r"(#+) (.*)", line)
        if heading:
            text = _plain_inline(heading.group(2))
            out += [text, ("=" if len(heading.group(1)) == 1 else "-") * len(text)]
        elif line.startswith("!["):
            pass  # an image link means nothing on a terminal; the file is named in the "wrote" lines
        else:
            out.append(_plain_inline(line))
        i += 1
    return "\n".join(out)


COLOURS = {"closes": "#2ca02c", "makes it worse": "#d62728", "no detectable effect": "#bbbbbb",
           "effect only (one seed)": "#6baed6"}


def plot(d: Diagnosis, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted([e for e in d.effects if e.closed is not None], key=lambda e: e.closed)  # largest on top
    fig, ax = plt.subplots(figsize=(7.5, 0.6 * max(len(rows), 1) + 2.0))
    y = list(range(len(rows)))
    err = [[e.closed - e.ci_holm[0] if e.ci_holm else 0 for e in rows],
           [e.ci_holm[1] - e.closed if e.ci_holm else 0 for e in rows]]
    ax.barh(y, [e.closed for e in rows], xerr=err, capsize=4, color=[COLOURS.get(e.verdict, "#bbbbbb") for e in rows])
    ax.set_yticks(y, [f"{e.factor}\n({e.best_label})" for e in rows], fontsize=8)
    if d.gap_verdict == "trails":
        ax.axvline(-d.gap, color="black", ls="--", lw=1, label=f"whole gap ({-d.gap:.2f})")
        ax.legend(fontsize=8)
    ax.axvline(0, color="black", lw=0.8)
    bars = "no error bars: one seed" if d.gap_verdict == "one seed" else "error bars: Holm-corrected t intervals"
    ax.set_xlabel(f"effect of the factor's variant on the case, points ({bars})")
    ax.set_title(f"{d.method} on {d.task}\ngreen closes, red makes it worse, grey no detectable effect, "
                 "blue one seed (no verdict)", fontsize=9)
    fig.tight_layout()
    return save_png(fig, path)


def write(d: Diagnosis, out_dir) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = plot(d, out / "diagnosis.png")
    md = out / "diagnosis.md"
    write_text_atomic(md, to_markdown(d, png.name))
    js = out / "diagnosis.json"
    write_atomic(js, d.to_dict())
    return [md, js, png]
