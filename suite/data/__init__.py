"""Where a run's data comes from: GLUE sources, synthetic data, the tokenized-data cache, the metric module."""
