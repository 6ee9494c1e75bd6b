"""What the shell reports when something goes wrong: one line and an exit status."""

from __future__ import annotations

from pathlib import Path

__all__ = ["EXIT_DATA", "EXIT_ERROR", "EXIT_USAGE", "CliError", "read_text"]

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


def read_text(path: Path) -> str:
    """A UTF-8 input file's text; one line and an exit status when it cannot be read
    (:data:`EXIT_ERROR`) or is not UTF-8 (:data:`EXIT_DATA`)."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise CliError(f"{path}: not UTF-8 text: {exc}", EXIT_DATA) from exc
