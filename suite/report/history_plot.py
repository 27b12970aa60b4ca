"""Trend plots of the results history: one PNG per case (matplotlib Agg, no display needed).

Top: the primary metric per run, every seed as a dot and the mean with its seed sd as an error bar; runs are
placed in date order, one slot each, labelled with date and commit. Red dashed lines: change points (label:
step size and p-value); green triangles: runs that updated the baseline; grey dotted lines: a package release
changed. Bottom: training samples/s, one colour per hardware fingerprint (throughput is comparable only on the
same hardware).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from suite.report.files import save_png
from suite.store import history as hi


def plot_case(points: list[hi.Point], out_path: str | Path, *, title: str | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    cps = hi.change_points(points)
    x = list(range(len(points)))
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(max(6.0, 0.45 * len(points) + 3), 6), sharex=True,
                                  gridspec_kw={"height_ratios": [2.2, 1]})
    ok = [(i, p) for i, p in zip(x, points) if p.ok and p.mean is not None]
    for i, p in ok:
        ax.scatter([i] * len(p.values), p.values, s=10, color="0.6", zorder=2)
    if ok:
        ax.errorbar([i for i, _ in ok], [p.mean for _, p in ok], yerr=[p.sd or 0.0 for _, p in ok], fmt="-o",
                    color="C0", capsize=3, zorder=3, label=f"{points[-1].metric} mean ± sd over seeds")
    bad = [i for i, p in zip(x, points) if not p.ok]
    if bad and ok:
        ax.scatter(bad, [min(p.mean for _, p in ok)] * len(bad), marker="x", color="black", label="failed run")
    upd = [(i, p) for i, p in ok if p.baseline_updated]
    if upd:
        ax.scatter([i for i, _ in upd], [p.mean for _, p in upd], marker="^", s=90, color="green", zorder=4,
                   label="baseline updated")
    _mark_changes(ax, ax2, points, cps)
    ax.set_ylabel(f"{points[-1].metric} (points)")
    ax.grid(alpha=0.3)
    if ok:
        ax.legend(fontsize=7, loc="lower left")
    _plot_throughput(ax2, points)
    ax2.set_xticks(x)
    ax2.set_xticklabels([f"{p.date[:10]}\n{p.short_commit}" for p in points], rotation=60, fontsize=6, ha="right")
    p0 = points[-1]
    ax.set_title(title or f"{p0.key} ({p0.profile}): {len(points)} runs, {len(cps)} change point(s)", fontsize=10)
    fig.tight_layout()
    return save_png(fig, out_path)


def _mark_changes(ax, ax2, points: list[hi.Point], cps) -> None:
    """Change points (red, with size and p) and package release changes (grey, with the releases)."""
    pos = {id(p): i for i, p in enumerate(points)}
    for c in cps:
        i = pos[id(c.point)] - 0.5
        for a in (ax, ax2):
            a.axvline(i, color="red", linestyle="--", linewidth=1.2)
        ax.annotate(f"{c.size:+.2f} (p={c.p_value:.3f})", (i, 1), xycoords=("data", "axes fraction"),
                    textcoords="offset points", xytext=(3, -12), color="red", fontsize=8)
    for i in range(1, len(points)):
        rel = hi.release_changes(points[i - 1], points[i])
        if rel:
            ax.axvline(i - 0.5, color="0.5", linestyle=":", linewidth=1)
            ax.annotate("\n".join(rel), (i - 0.5, 0), xycoords=("data", "axes fraction"), textcoords="offset points",
                        xytext=(3, 4), fontsize=6, color="0.35")


def _plot_throughput(ax2, points: list[hi.Point]) -> None:
    """Training samples/s, one line per hardware fingerprint (figures from other machines do not compare)."""
    hw = sorted({p.hardware for p in points})
    for k, h in enumerate(hw):
        pts = [(i, p.throughput) for i, p in enumerate(points) if p.hardware == h and p.throughput]
        if pts:
            ax2.plot([i for i, _ in pts], [t for _, t in pts], "-s", color=f"C{k + 1}", markersize=4, label=h)
    ax2.set_ylabel("train samples/s")
    ax2.grid(alpha=0.3)
    if len(hw) > 0 and any(p.throughput for p in points):
        ax2.legend(fontsize=6, loc="lower left")


MAX_NAME_BYTES = 200  # file systems allow 255 bytes per name; longer case keys are cut and made unique by a hash


def file_name(profile: str, key: str) -> str:
    name = re.sub(r"[^\w.+-]+", "_", f"history-{profile}-{key}").strip("_")
    if len(name.encode()) > MAX_NAME_BYTES:
        digest = hashlib.sha256(f"{profile}\0{key}".encode()).hexdigest()[:12]
        name = name.encode()[:MAX_NAME_BYTES - 13].decode(errors="ignore") + "-" + digest
    return name + ".png"


def write_plots(path, out_dir, *, profile: str | None = None, case: str | None = None) -> list[Path]:
    """One PNG per case of the history at ``path`` into ``out_dir``; returns their paths (for the HTML report)."""
    series = hi.load(path, profile=profile, case=case)
    return [plot_case(pts, Path(out_dir) / file_name(prof, key)) for (prof, key), pts in sorted(series.items())]
