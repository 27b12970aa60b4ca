"""How results are shown: terminal and Markdown tables, HTML report, plots."""
