"""Progress on long steps (encoding, fitting, syncing, evaluating), drawn with rich on stderr.

Bars are drawn only for a person watching: never when stdout is not a terminal (a pipe, a
file, a test) or with ``--quiet``, so JSON output stays clean. Encoding gets a real bar
through :class:`ProgressEncoder`, which encodes in chunks; steps that cannot report how far
they are (a fit's search, a sync) get a spinner with the elapsed time.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from ..encoders.base import DenseEncoder, Vectors
from ..metrics import raw_encode

__all__ = ["Progress", "ProgressEncoder"]

CHUNK = 256
"""Texts per encoder call while a bar is shown: small enough to move, big enough to batch."""


class Progress:
    """A switchable progress display; every method is a no-op when it is off."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._progress = RichProgress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )

    @classmethod
    def for_terminal(cls, quiet: bool) -> Progress:
        """On only when both stdout and stderr are terminals and ``--quiet`` was not given."""
        return cls(not quiet and sys.stdout.isatty() and sys.stderr.isatty())

    def __enter__(self) -> Progress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    @contextmanager
    def task(self, description: str, total: int | None = None) -> Iterator[_Task]:
        """A bar (``total`` known) or a spinner (``total=None``) for one step."""
        if self._progress is None:
            yield _Task(None, 0)
            return
        task_id = self._progress.add_task(description, total=total)
        try:
            yield _Task(self._progress, task_id)
        finally:
            self._progress.remove_task(task_id)


class _Task:
    def __init__(self, progress: object, task_id: object) -> None:
        self._progress, self._id = progress, task_id

    def advance(self, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._id, n)  # type: ignore[attr-defined]


class ProgressEncoder(DenseEncoder):
    """The encoder it wraps, encoding big calls in chunks so a bar can follow them.

    Same ``name`` and ``dim``, so configs and stores made with the wrapped encoder are
    accepted; small calls are passed through untouched, chunked ones equal one call up to
    float rounding (a model pads each chunk to its own longest text).
    """

    def __init__(self, inner: DenseEncoder, progress: Progress, threshold: int = 2 * CHUNK) -> None:
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self._progress, self._threshold = progress, threshold

    def encode(self, texts: list[str]) -> Vectors:
        if not self._progress.enabled or len(texts) < self._threshold:
            return raw_encode(self.inner, texts)
        parts = []
        with self._progress.task(f"encoding {len(texts)} texts", total=len(texts)) as bar:
            for start in range(0, len(texts), CHUNK):
                chunk = texts[start : start + CHUNK]
                parts.append(self.inner(chunk))
                bar.advance(len(chunk))
        return np.concatenate(parts).astype(np.float32, copy=False)
