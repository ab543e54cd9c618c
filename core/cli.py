"""Glue shared by the console scripts: turn job errors into exit codes and clear messages.

Exit codes (stable; schedulers rely on them):
  0 ok · 1 unexpected error · 2 config error · 3 data validation · 4 no model · 5 nothing eligible
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from core.errors import DecayError

log = logging.getLogger("adoption_decay")


def job(fn: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Decorate a Hydra task function: a ``DecayError`` becomes its exit code plus a hint."""

    @functools.wraps(fn)
    def wrapper(cfg: DictConfig) -> Any:
        try:
            return fn(cfg)
        except DecayError as err:
            log.error("%s failed: %s", fn.__module__, err)
            print(f"ERROR: {err}", file=sys.stderr)
            sys.exit(err.exit_code)

    return wrapper
