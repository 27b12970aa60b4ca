"""python -m suite: one module per subcommand."""
