"""The end-of-run text: provenance line, table, verdict counts, notes."""

from __future__ import annotations

from suite.gate import verdicts as vd
from suite.report import table


def render_summary(rows: list[vd.Row], profile: str, *, gap_failures: list[str] = (), strict: bool = False,
                   width: int | None = None, max_gap: float | None = None) -> str:
    """The end-of-run text: provenance, the table, verdict counts, then one line per verdict worth reading.
    ``width``: the table is made to fit that many columns (see ``table.to_text``); prose lines are left whole."""
    r0 = rows[0].result
    hw = (r0.provenance or {}).get("hardware", {})
    models = table.models(rows)  # merged results may hold several models: name them all, claim none
    data = ", ".join(dict.fromkeys(str(row.result.data_origin) for row in rows))
    seeds = "; ".join(dict.fromkeys(str(row.result.config.get("seeds")) for row in rows))
    head = (f"glue-adapter-bench: profile {profile}, model{'s' if len(models) > 1 else ''} {', '.join(models)}, "
            f"data {data}, seeds {seeds}, on {hw.get('name', '?')} "
            f"({hw.get('device', '?')} x{hw.get('count', '?')})")
    tail = "verdicts: " + ", ".join(f"{n} {s}" for s, n in vd.counts(rows).items())
    if any(row.verdict.unjudged for row in rows):
        tail += (" (no-baseline/stale compared nothing: " + ("they FAIL under --strict-baselines)" if strict
                                                              else "skipped; --strict-baselines fails them)"))
    notes = [row.verdict.message for row in rows
             if row.verdict.status != "pass" or row.verdict.test is not None or row.verdict.suspects]
    notes += vd.gap_gate_lines([row.result for row in rows], max_gap, list(gap_failures))
    return "\n".join([head, table.to_text(rows, width), tail, *notes])
