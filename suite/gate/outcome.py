"""The one place that decides whether a case, and a whole run, fails.

Every gate ends here: the quality verdict (with strict mode), the adapter gap gate (``--max-gap``), throughput
(``--throughput-tolerance``) and the history gates (``--max-drift``, ``--fail-on-change-point``). The pytest
plugin, ``python -m suite run`` and ``python -m suite report merge`` all call ``run_outcome``; the benchmark test
calls ``case_failures``. A gate is added by computing its messages where its inputs are and passing them in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from suite.gate.verdicts import Row, Verdict, family, is_reference

NOTHING_RAN = "--strict-baselines: no case ran, so nothing was compared; failing"


@dataclass
class Outcome:
    """Why a run fails; a run with no reasons passes."""
    reasons: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.reasons)


def case_failures(verdict: Verdict, *, strict: bool, gate_messages: Iterable[str] = ()) -> list[str]:
    """Why one case fails: its verdict (no-baseline and stale count only under strict) and its other gates."""
    return ([verdict.message] if verdict.fails(strict) else []) + list(gate_messages)


def run_outcome(rows: Iterable[Row], *, strict: bool, gap_failures: Iterable[str] = (),
                throughput_failures: Iterable[str] = (), history_failures: Iterable[str] = (),
                broken_files: bool = False) -> Outcome:
    """Whether a run with these judged rows fails: any failing verdict, any gate message, a run that compared
    nothing under strict mode, or a results/report/baseline/history file that could not be written."""
    rows = list(rows)
    reasons = [row.verdict.message for row in rows if row.verdict.fails(strict)]
    reasons += [f"gap gate: {m}" for m in gap_failures]
    reasons += list(throughput_failures) + list(history_failures)
    if strict and not rows:
        reasons.append(NOTHING_RAN)
    if broken_files:
        reasons.append("a file of this run could not be written (see the ERROR lines)")
    return Outcome(reasons)


def gap_gate_problem(methods: Iterable[str], flag: str = "--max-gap") -> str | None:
    """Why the gap gate would compare nothing over cases of these methods (None: it can judge): it needs full
    fine-tuning (the reference) and at least one adapter. Checked before training and by report merge."""
    methods = list(methods)
    if not any(family(m) == "adapter" and not is_reference(m) for m in methods):
        return (f"{flag} compares adapters with full fine-tuning, but no adapter method is among "
                f"{', '.join(sorted(set(methods))) or 'the cases'}: it would compare nothing; add an adapter method "
                f"or drop {flag}")
    if not any(is_reference(m) for m in methods):
        return (f"{flag} needs full fine-tuning of the same run as the reference, but 'full' is not among the methods "
                f"({', '.join(sorted(set(methods)))}); add it to --methods (or merge its shard's results)")
    return None
