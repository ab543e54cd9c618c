"""MLflow: runs and their artifacts (``runs``), the model registry (``registry``) and the pyfunc
that serves a registered model (``pyfunc``). Nothing here trains or scores; it records and finds."""
