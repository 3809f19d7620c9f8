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


class Spill(Generic[T]):
    def __init__(self, key: Callable[[T], Any], chunk: int = 100_000) -> None:
        self.key = key
        self.chunk = chunk
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
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed in sorted()
        pickler = pickle.Pickler(spool, protocol=pickle.HIGHEST_PROTOCOL)
        for item in self._buffer:
            pickler.dump(item)
            pickler.clear_memo()
        spool.seek(0)
        self._files.append(spool)
        self._buffer = []

    def sorted(self) -> Iterator[T]:
        """Every item added, by key (stable for equal keys within a chunk). Once."""
        self._buffer.sort(key=self.key)
        if not self._files:
            yield from self._buffer
            self._buffer = []
            return
        try:
            streams = [_read(f) for f in self._files]
            yield from heapq.merge(*streams, iter(self._buffer), key=self.key)
        finally:
            for f in self._files:
                f.close()
            self._files, self._buffer = [], []


def _read(spool: IO[bytes]) -> Iterator[Any]:
    unpickler = pickle.Unpickler(spool)  # noqa: S301 - our own temporary file, written above
    while True:
        try:
            yield unpickler.load()
        except EOFError:
            return
