"""Benchmarks of the gateway: `python -m bench` (or `make bench`) writes bench/results.json, bench/report.md and plots.

See bench/__main__.py for what is measured and how; bench/report.md for the latest figures.
"""
