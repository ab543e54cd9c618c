"""Glue shared by the console scripts: turn job errors into exit codes and clear messages.

Exit codes (stable; schedulers rely on them):
  0 ok · 1 unexpected error · 2 config error · 3 data validation · 4 no model · 5 nothing eligible
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from core.errors import DecayError
from core.logs import get_logger

log = get_logger(__name__)

#: Exit code of a configuration error (an unknown key, a wrongly typed value, a bad choice).
EXIT_CONFIG = 2
_STATE = {"job_started": False}


def job(fn: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Decorate a Hydra task function: a ``DecayError`` becomes its exit code plus a hint."""

    @functools.wraps(fn)
    def wrapper(cfg: DictConfig) -> Any:
        _STATE["job_started"] = True
        try:
            return fn(cfg)
        except DecayError as err:
            log.error("%s failed: %s", fn.__module__, err)
            print(f"ERROR: {err}", file=sys.stderr)
            sys.exit(err.exit_code)

    return wrapper


def console(hydra_main: Callable[[], Any]) -> Callable[[], Any]:
    """The console-script entry around a ``@hydra.main`` function: Hydra's own configuration
    errors (an unknown key such as ``label.horizon_dayz=3``, a value of the wrong type such as
    ``snapshot.every_days=weekly``) exit with the documented config code 2, not Hydra's 1.

    Why here: Hydra composes and validates the config *before* the task function runs, so the
    ``job`` decorator never sees these errors; Hydra prints its one-line message and exits 1. A
    failure before the job started can only be the config's, so it is mapped to 2; every exit of
    the job itself keeps its own code."""

    @functools.wraps(hydra_main)
    def run() -> Any:
        _STATE["job_started"] = False
        try:
            return hydra_main()
        except SystemExit as exc:
            if exc.code not in (0, None) and not _STATE["job_started"]:
                sys.exit(EXIT_CONFIG)
            raise

    return run
