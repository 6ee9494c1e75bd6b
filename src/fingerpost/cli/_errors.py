"""What the shell reports when something goes wrong: one line and an exit status."""

from __future__ import annotations

__all__ = ["EXIT_DATA", "EXIT_ERROR", "EXIT_USAGE", "CliError"]

EXIT_ERROR = 1
"""Something failed (a file that cannot be read, a remote that does not answer)."""
EXIT_USAGE = 2
"""The command line or an input file is wrong: the user must change something."""
EXIT_DATA = 2


class CliError(Exception):
    """A problem to report in one line, with an exit status."""

    def __init__(self, message: str, status: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.status = status
