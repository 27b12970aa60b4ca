"""diagnose: why does an adapter trail full fine-tuning, and what closes the gap? Evidence, not guesses.

1. Pitfall checks on the setup before training, each a finding with its evidence: a frozen classification head,
   an adapter learning rate at full fine-tuning levels, adapter init drawn before seeding (non-reproducible),
   compared runs with different heads or model classes, too few optimizer steps.
2. Sweeps read from one table (GRID): per factor and adapter family, how each variant is derived from the case's
   config, the cause it tests and the remedy; families that cannot vary a factor are declared there with why.
3. Paired statistics: every variant against the case itself on the same seeds (per-seed differences, t interval),
   Holm-corrected across all variants of the diagnosis. A factor closes the gap only when a variant's corrected
   interval lies above zero; "makes it worse" is its own verdict; % of the gap only when the gap itself is
   outside seed noise. One seed gives effects, not verdicts.

Runs are reused, never retrained, when the same case already ran in this process, or in the on-disk cache of
earlier diagnoses with the same config, data, package releases and suite source (``DiskCache``).

One concern per module; import from the module itself (this package re-exports nothing):

* ``checks``: the pitfall checks (``Finding``, ``check_*``, ``pitfall_checks``) and their thresholds;
* ``grid``: the sweep table (``GRID``, ``FACTORS``, ``CAUSE``) and the variants it derives (``variants``);
* ``effects``: paired effects and their Holm-corrected verdicts (``gap_stat``, ``judge_effects``, ``conclude``);
  the generic statistics (``ALPHA``, ``holm``, t tests) live in ``suite.gate.statistics``;
* ``runner``: one diagnosis end to end (``diagnose``, ``Diagnosis``, ``rerun_hint``);
* ``output``: ``diagnosis.md``/``.json``/``.png`` (``to_markdown``, ``plot``, ``write``);
* ``run_cache``: reuse of earlier runs across diagnoses (``DiskCache``, ``run_identity``, ``source_hash``).
"""
