"""A diagnosis's files: diagnosis.md (``to_markdown``), diagnosis.png (``plot``) and diagnosis.json (``write``)."""

from __future__ import annotations

from pathlib import Path

from suite.gate.baselines import write_atomic
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
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(d: Diagnosis, out_dir) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = plot(d, out / "diagnosis.png")
    md = out / "diagnosis.md"
    md.write_text(to_markdown(d, png.name), encoding="utf-8")
    js = out / "diagnosis.json"
    write_atomic(js, d.to_dict())
    return [md, js, png]
