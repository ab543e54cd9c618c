"""Glue shared by the console scripts: turn job errors into exit codes and clear messages.

Exit codes (stable; schedulers rely on them; the README's "Schedule it" table):
  0 ok · 1 unexpected error · 2 config error · 3 data validation · 4 no model · 5 nothing eligible
  · 6 another run holds the output's lock · 7 database unreachable or refused (source or sink)

A config error prints ONE line on stderr naming the key, whoever found it: Hydra while composing
(an unknown key, a wrongly typed value, a bad enum choice, a missing group option, an override
that does not parse), the job's start (an interpolation that does not resolve, a mandatory
``???`` value left open), or the job itself (``ConfigValueError``: a value of the right type
that makes no sense)::

    ERROR: config: model.strategy: Invalid value 'best', expected one of [per_segment, global, auto]
"""

from __future__ import annotations

import functools
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from hydra.errors import MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from core.errors import ConfigValueError, DecayError
from core.logs import get_logger
from core.progress import quiet_library_bars

log = get_logger(__name__)

#: Exit code of a configuration error (an unknown key, a wrongly typed value, a bad choice).
EXIT_CONFIG = 2
#: Hydra re-raises its own errors (instead of printing a block and exiting 1) when this is set.
_FULL_ERROR = "HYDRA_FULL_ERROR"
_STATE: dict[str, Any] = {"job_started": False, "full_error": None}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def config_error(exc: BaseException) -> str:
    """``config: <key>: <message>`` in one line for a configuration error (``exc`` as Hydra or
    OmegaConf raised it; the key is the dotted path the user typed or the group name)."""
    key, message = None, None
    for err in _chain(exc):
        if isinstance(err, OmegaConfBaseException) and getattr(err, "full_key", None):
            key, message = str(err.full_key), _first_line(str(err))
            break
    if key is None and isinstance(exc, MissingConfigException) and exc.missing_cfg_file:
        key = exc.missing_cfg_file.rpartition("/")[0] or exc.missing_cfg_file
        options = f" (options: {', '.join(exc.options)})" if exc.options else ""
        message = f"Could not find '{exc.missing_cfg_file}'{options}"
    if key is None and isinstance(exc, OverrideParseException):
        key = exc.override.partition("=")[0].lstrip("+~")
        message = _first_line(exc.message)
    if key is None:  # Hydra names the override in its own message: "Could not override 'a.b'"
        found = re.search(r"override '?([+~]*[\w.\[\]/@-]+)", str(exc))
        key = found.group(1).lstrip("+~") if found else None
        inner = [e for e in _chain(exc) if isinstance(e, OmegaConfBaseException)]
        message = _first_line(str(inner[0] if inner else exc)) or type(exc).__name__
    assert message is not None
    if key is not None:
        message = message.replace("$KEY", key.rpartition(".")[2])
    return f"config: {key}: {message}" if key else f"config: {message}"


def _check_resolves(cfg: DictConfig) -> None:
    """Every interpolation resolves and no mandatory (``???``) value is left open: both are
    config errors, found here rather than at first use deep inside the job."""
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)


def _restore_full_error() -> None:
    """Give ``HYDRA_FULL_ERROR`` back its own value (the user's, or unset) for the job itself:
    Hydra then reports an unexpected error of the job as usual (exit 1)."""
    if _STATE["full_error"] is None:
        os.environ.pop(_FULL_ERROR, None)
    else:
        os.environ[_FULL_ERROR] = _STATE["full_error"]


def job(fn: Callable[[DictConfig], Any]) -> Callable[[DictConfig], Any]:
    """Decorate a Hydra task function: a ``DecayError`` becomes its exit code plus a hint; a
    config that does not resolve, or a ``ConfigValueError``, exits 2 with one line."""

    @functools.wraps(fn)
    def wrapper(cfg: DictConfig) -> Any:
        _STATE["job_started"] = True
        _restore_full_error()
        try:
            _check_resolves(cfg)
        except OmegaConfBaseException as err:
            print(f"ERROR: {config_error(err)}", file=sys.stderr)
            sys.exit(EXIT_CONFIG)
        try:
            return fn(cfg)
        except ConfigValueError as err:
            log.error("%s failed: %s", fn.__module__, err)
            message = "; ".join(line.strip() for line in str(err.args[0]).splitlines())
            hint = f" (what to do: {err.hint})" if err.hint else ""
            print(f"ERROR: config: {message}{hint}", file=sys.stderr)
            sys.exit(err.exit_code)
        except DecayError as err:
            log.error("%s failed: %s", fn.__module__, err)
            print(f"ERROR: {err}", file=sys.stderr)
            sys.exit(err.exit_code)

    return wrapper


def console(hydra_main: Callable[[], Any]) -> Callable[[], Any]:
    """The console-script entry around a ``@hydra.main`` function: Hydra's own configuration
    errors (an unknown key such as ``label.horizon_dayz=3``, a value of the wrong type such as
    ``snapshot.every_days=weekly``, a bad choice such as ``model.strategy=best``) exit with the
    documented config code 2 and one line naming the key, not Hydra's block and exit 1.

    Why here: Hydra composes and validates the config *before* the task function runs, so the
    ``job`` decorator never sees these errors. ``HYDRA_FULL_ERROR`` makes Hydra raise them to us
    instead of printing its block; the job gets the variable's own value back when it starts.
    A failure before the job started can only be the config's, so it is mapped to 2 (with the
    full traceback too when the user set ``HYDRA_FULL_ERROR``); every exit of the job itself
    keeps its own code."""

    @functools.wraps(hydra_main)
    def run() -> Any:
        _STATE["job_started"] = False
        _STATE["full_error"] = os.environ.get(_FULL_ERROR)
        quiet_library_bars()  # no carriage-return bars from libraries in a scheduler's log
        os.environ[_FULL_ERROR] = "1"
        try:
            return hydra_main()
        except SystemExit as exc:
            if exc.code not in (0, None) and not _STATE["job_started"]:
                sys.exit(EXIT_CONFIG)
            raise
        except Exception as exc:
            if _STATE["job_started"]:  # the user's own HYDRA_FULL_ERROR=1: a job's traceback
                raise
            if _STATE["full_error"]:
                traceback.print_exc()
            print(f"ERROR: {config_error(exc)}", file=sys.stderr)
            sys.exit(EXIT_CONFIG)
        finally:
            _restore_full_error()

    return run
