"""Labelled turns for ``eval`` and ``fit``: one ``{"text": ..., "label": ...}`` per line.

A misspelled key must not quietly turn every turn into an out-of-scope one, so the reader
accepts exactly the documented keys and reports anything else with its file and line. A
missing ``"label"`` (or ``null``) marks a turn that should route nowhere; when labels are
missing the command says so once.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from ._errors import EXIT_DATA, CliError, read_text

__all__ = ["KEYS", "Labelled", "read_labelled"]

KEYS = ("text", "label")


@dataclass(frozen=True)
class Labelled:
    """Turns read from ``path``; ``lines[i]`` is the line number of turn ``i``."""

    path: Path
    texts: list[str]
    labels: list[str | None]
    lines: list[int]
    missing_labels: int

    def check_labels(self, route_names: Collection[str]) -> None:
        """Every label names a route: else an error with the file and line of the first."""
        for label, line in zip(self.labels, self.lines, strict=True):
            if label is not None and label not in route_names:
                raise CliError(f"{self.path}:{line}: label {label!r} names no route", EXIT_DATA)

    def missing_note(self) -> str | None:
        """The one-time note about turns without a label, or ``None`` when all have one."""
        if not self.missing_labels:
            return None
        return (
            f'note: {self.missing_labels} of {len(self.texts)} turns in {self.path} have no "label": '
            "they count as out of scope (should route nowhere)"
        )


def read_labelled(path: Path) -> Labelled:
    """Read and validate a labelled JSONL file; blank lines are skipped."""
    raw = read_text(path)
    texts: list[str] = []
    labels: list[str | None] = []
    lines: list[int] = []
    missing = 0
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CliError(f"{where}: not JSON: {exc}", EXIT_DATA) from exc
        if not isinstance(row, dict):
            raise CliError(f'{where}: expected {{"text": str, "label": str or null}}', EXIT_DATA)
        unknown = [k for k in row if k not in KEYS]
        if unknown:
            raise CliError(
                f'{where}: unknown key {unknown[0]!r}; expected "text" and "label" '
                '(a turn without "label" is out of scope)',
                EXIT_DATA,
            )
        text = row.get("text")
        if not isinstance(text, str):
            raise CliError(f'{where}: expected {{"text": str, "label": str or null}}', EXIT_DATA)
        if not text.strip():
            raise CliError(f"{where}: blank text", EXIT_DATA)
        if "label" not in row:
            missing += 1
        label = row.get("label")
        if label is not None and not isinstance(label, str):
            raise CliError(f"{where}: label must be a string or null", EXIT_DATA)
        texts.append(text)
        labels.append(label)
        lines.append(number)
    if not texts:
        raise CliError(f"{path}: no labelled turns", EXIT_DATA)
    return Labelled(path, texts, labels, lines, missing)
