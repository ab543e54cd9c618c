"""Errors a scheduled job can act on, each with its own exit code and a hint saying what to do.

Why: a scheduler (cron, Airflow, Argo) only sees the exit code; an operator only reads the last
lines of the log. Each failure kind gets a stable code and a message that names the fix.
"""

from __future__ import annotations


class DecayError(Exception):
    """Base class: ``exit_code`` is what the console script exits with."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\nWhat to do: {self.hint}" if self.hint else base


class DataValidationError(DecayError):
    """Input tables break the data contract (and data.on_error=fail)."""

    exit_code = 3


class NoModelError(DecayError):
    """No champion (or the requested) model could be loaded."""

    exit_code = 4


class NoEligibleAccountsError(DecayError):
    """Nothing to score or train on at the requested cutoff(s)."""

    exit_code = 5


class ConfigValueError(DecayError):
    """A config value is of the right type but makes no sense (e.g. unknown strategy)."""

    exit_code = 2


class LockHeldError(DecayError):
    """Another run holds ``${output.dir}/.decay-run.lock`` (and ``run.lock_wait_seconds`` ran
    out): nothing was touched; retry later."""

    exit_code = 6


class DatabaseError(DecayError):
    """A database source or sink (``data=postgres``, ``sink=postgres``) could not be reached or
    refused a statement; the message never holds the connection string (``core.database``)."""

    exit_code = 7


class ClusterError(DecayError):
    """``engine=dask``: the scheduler could not be reached, or the cluster lost its workers
    (``core.cluster``); nothing was written. Retry when the cluster is back."""

    exit_code = 8
