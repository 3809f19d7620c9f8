"""Sorting more rows than should sit in memory: chunks sorted in memory, spilled to
temporary files (pickle, written and read by this process only), merged back lazily.
Memory stays near one chunk whatever the number of rows."""

from __future__ import annotations

import heapq
import pickle
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any, Generic, TypeVar

T = TypeVar("T")


BATCH = 1024
"""Items pickled together: one dump per batch, not per item."""


class Spill(Generic[T]):
    """``pack`` and ``unpack`` turn an item into something cheap to pickle (a tuple) and
    back; by default the item itself."""

    def __init__(
        self,
        key: Callable[[T], Any],
        chunk: int = 100_000,
        *,
        pack: Callable[[T], Any] | None = None,
        unpack: Callable[[Any], T] | None = None,
    ) -> None:
        self.key = key
        self.chunk = chunk
        self.pack = pack
        self.unpack = unpack
        self.count = 0
        self._buffer: list[T] = []
        self._files: list[IO[bytes]] = []

    def add(self, item: T) -> None:
        self._buffer.append(item)
        self.count += 1
        if len(self._buffer) >= self.chunk:
            self._spill()

    def _spill(self) -> None:
        self._buffer.sort(key=self.key)
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by sorted() or close()
        self._files.append(spool)
        pack = self.pack
        for i in range(0, len(self._buffer), BATCH):
            batch = self._buffer[i : i + BATCH]
            pickle.dump([pack(x) for x in batch] if pack else batch, spool,
                        protocol=pickle.HIGHEST_PROTOCOL)  # fmt: skip
        spool.seek(0)
        self._buffer = []

    def close(self) -> None:
        """Drop what was added (a refused feed): the temporary files are closed now."""
        for f in self._files:
            f.close()
        self._files, self._buffer = [], []

    def sorted(self) -> Iterator[T]:
        """Every item added, by key (stable for equal keys within a chunk). Once."""
        self._buffer.sort(key=self.key)
        if not self._files:
            yield from self._buffer
            self._buffer = []
            return
        try:
            streams = [_read(f, self.unpack) for f in self._files]
            yield from heapq.merge(*streams, iter(self._buffer), key=self.key)
        finally:
            self.close()


def _read(spool: IO[bytes], unpack: Callable[[Any], Any] | None) -> Iterator[Any]:
    while True:
        try:
            batch = pickle.load(spool)  # noqa: S301 - our own temporary file, written above
        except EOFError:
            return
        yield from (map(unpack, batch) if unpack else batch)
