"""One project logger, ``adoption_decay``, with one child per module.

Why: each module logs under its own name (``adoption_decay.features.build``), so a line says where
it came from and a user can quieten one module, while the job's handler, level and format are set
once on the parent (``conf/hydra/job_logging``, tests' ``caplog``) and apply to every module.
"""

from __future__ import annotations

import logging
import sys

PROJECT = "adoption_decay"


def get_logger(name: str) -> logging.Logger:
    """The logger for module ``name`` (pass ``__name__``), a child of the project logger.

    A module run as ``python -m pipelines.score`` (how ``decay-run`` starts its steps) is named
    ``__main__``; its logger takes the module's real name so the log says which step wrote it."""
    if name == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        name = spec.name if spec is not None else name
    return logging.getLogger(f"{PROJECT}.{name}" if name != PROJECT else PROJECT)
