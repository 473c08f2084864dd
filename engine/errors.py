"""Errors a user can cause, and the process exit codes the command line returns.

Every error raised for bad input is a :class:`CoughscopeError` whose message names the file,
column or value at fault, and whose ``hint`` says what to do about it. The command line
prints both and exits with the error's ``exit_code``; the TUI shows them in a notification.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of the ``coughscope`` command (stdout is data, stderr diagnostics)."""

    OK = 0
    FAILURE = 1  # the work itself failed (e.g. training diverged, a run failed)
    USAGE = 2  # bad arguments or bad input data: fix the command or the data
    UNAVAILABLE = 3  # something needed is absent here (GPU, weights, microphone, network)
    INTERRUPT = 130  # stopped by Ctrl+C / SIGTERM / SIGHUP; the run is resumable


class CoughscopeError(Exception):
    """A problem the user can fix. ``str(err)`` is the problem, ``err.hint`` the remedy."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message

    def describe(self) -> str:
        """The message and, on its own line, the hint (what a CLI or dialog shows)."""
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class DataError(CoughscopeError):
    """The data set cannot be used as given (missing path, bad CSV, one class, ...)."""


class ConfigError(CoughscopeError):
    """An experiment or preprocessing setting is invalid (unknown model, bad value, ...)."""


class UnavailableError(CoughscopeError):
    """Something the request needs is not available on this machine."""

    exit_code = ExitCode.UNAVAILABLE


class RunError(CoughscopeError):
    """A run directory is missing, unreadable, or in a state that forbids the action."""


class Interrupted(Exception):
    """Work was asked to stop (a signal, or the app's Stop); the run is resumable.

    The trainers raise subclasses carrying where they stopped; the runner catches this class.
    """
