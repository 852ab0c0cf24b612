"""The one error family. Every message is written for the person at the keyboard: what is wrong,
where, and how to fix it. The CLI maps each class to its exit code and prints one line."""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_NO_INCIDENT = 4
EXIT_STATE = 5
EXIT_PARTIAL = 6  # some of the work was done, some refused: the output says which
EXIT_WORKSPACE = 7  # the machine or the workspace stopped us: disk full, read-only, not ours, a link
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT), as shells report it: the output says what was done and how to go on


class IncidentError(Exception):
    """A problem the user can act on. Never carries buyer data."""

    exit_code = EXIT_ERROR


class UsageError(IncidentError):
    """An argument or option has a value we cannot use."""

    exit_code = EXIT_USAGE


class InputFileError(IncidentError):
    """A file we were given is not what it should be. Names file, line and column."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, path: Path | str, problem: str, fix: str, line: int | None = None,
                 column: int | None = None, column_name: str | None = None):
        self.path = Path(path)
        self.line = line
        self.column = column
        self.column_name = column_name
        self.problem = problem
        self.fix = fix
        where = str(self.path)
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        what = problem
        if column_name:
            what = f"column '{column_name}': {problem}"
        super().__init__(f"{where}: {what}. {fix}")


class NoIncidentError(IncidentError):
    exit_code = EXIT_NO_INCIDENT


class StateError(IncidentError):
    """The incident is not in a state that allows this (e.g. ticking a step twice)."""

    exit_code = EXIT_STATE


class WorkspaceError(IncidentError):
    """The machine or the workspace stops us: a full disk, a read-only or unwritable folder, a
    folder that is not the user's or that others can write, a symbolic link where a folder should
    be. Says what happened and what to do; the incident is left as it was."""

    exit_code = EXIT_WORKSPACE
