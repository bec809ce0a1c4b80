"""chanbench's reports: REPORT.md with tables and SVG plots from result files, and a
statistical comparison of two result files. Run `python3 -m harness.report --help`."""
