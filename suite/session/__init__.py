"""The session layer: a benchmark session (bench.py) with its pre-training checks, case selection and the
writing of its outputs; above every library layer, below the commands and the pytest plugin."""
