"""Command line, rendering, reports, benchmarks: the thin shell around the library packages."""
