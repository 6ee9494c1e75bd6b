"""The half of the remote adapters that does not depend on the backend.

``QdrantIndex`` and ``PineconeIndex`` both hold a client behind a retry policy, bind in the
same steps and check widths the same way; only the backend calls differ. This base holds the
shared part once: the context manager and the closed state, every client call through the
retry policy (:mod:`._retry`, errors mapped to ``RemoteUnavailableError``), the bound width,
the outline of :meth:`bind` (the backend creates or checks its collection, this adopts or
writes the version record), and request batching.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, ClassVar, Self, TypeVar

from .._exceptions import EncoderMismatchError, InvalidInputError, RemoteUnavailableError
from ._records import check_bind_args, check_meta_encoder
from ._retry import RetryPolicy, acall_with_retry, call_with_retry
from .base import RemoteIndex, RemoteMeta

__all__ = ["ClientRemoteIndex", "batches"]

T = TypeVar("T")


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size`` (one request each)."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


class ClientRemoteIndex(RemoteIndex):
    """A remote index reached through a backend client (see the module)."""

    #: Names the backend in error messages ("Qdrant", "Pinecone").
    backend: ClassVar[str] = "remote"
    index_name: str
    _policy: RetryPolicy
    _dim: int | None = None
    _closed: bool = False
    #: A width the user asked for; :meth:`bind` refuses an encoder of another one.
    _expect_dim: int | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- client calls --------------------------------------------------------------------
    @staticmethod
    def _transient(exc: Exception) -> bool:
        """Whether a client failure is worth another attempt (the backend's call)."""
        return False

    def _guard(self, fn: Callable[[], T]) -> Callable[[], T]:
        """Wrap one client call (Qdrant: the embedded engine's lock)."""
        return fn

    def _check_open(self) -> None:
        if self._closed:
            raise RemoteUnavailableError(f"{self!r} is closed")

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        return call_with_retry(
            self._policy,
            f"{self.backend} {what} on {self.index_name!r}",
            self._guard(fn),
            type(self)._transient,
        )

    async def _acall(self, what: str, fn: Callable[[], Awaitable[Any]]) -> Any:
        self._check_open()
        return await acall_with_retry(
            self._policy,
            f"{self.backend} {what} on {self.index_name!r}",
            fn,
            type(self)._transient,
        )

    def _require_dim(self) -> int:
        if self._dim is None:
            raise InvalidInputError(f"{self!r} is not bound: call bind(encoder_name, dim) first")
        return self._dim

    # ---- lifecycle -----------------------------------------------------------------------
    def _bind_meta(
        self, encoder_name: str, dim: int, ensure: Callable[[int], bool], where: str
    ) -> RemoteMeta:
        """The outline of :meth:`bind`: check the arguments and the expected width before any
        request, let ``ensure(dim)`` create or check the backend's collection (True when it
        existed), then adopt its version record (refusing another encoder's) or write a
        fresh one."""
        check_bind_args(encoder_name, dim)
        if self._expect_dim is not None and self._expect_dim != dim:
            raise EncoderMismatchError(
                f"{self!r} expects {self._expect_dim}-dim vectors, the encoder makes {dim}"
            )
        meta = self.read_meta() if ensure(dim) else None
        if meta is not None:
            check_meta_encoder(meta, encoder_name, dim, where)
            self._dim = dim
            return meta
        self._dim = dim
        meta = RemoteMeta(encoder_name=encoder_name, encoder_dim=dim)
        self.write_meta(meta)
        return meta
