"""Scale checks run by hand (``python -m benchmarks.<name>``); results in ``benchmarks/results``."""
