"""What a run means: verdicts, baselines, calibration, adaptive seeds, the one decision whether a run fails."""
