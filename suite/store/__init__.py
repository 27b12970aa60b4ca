"""What a run leaves behind: results files, the SQLite history, change points, benchmark JSON."""
