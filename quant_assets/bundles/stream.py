"""The bundle's bytes as the importer reads them: hashed as they pass, inflated under a ceiling.

``BoundedGunzip`` inflates one gzip member and refuses to yield a byte past the ceiling it is
given, so a gzip bomb costs at most the ceiling to discover, never its inflated size. zlib
itself checks the gzip trailer (CRC-32 and length) when the member ends.
"""

from __future__ import annotations

import hashlib
import zlib
from collections import deque

from quant_assets.bundles.manifest import BundleError

CHUNK = 1 << 20
_RAW_CHUNK = 64 << 10
_GZIP = zlib.MAX_WBITS | 16  # a gzip header and trailer around the deflate stream


class HashingReader:
    """Passes the archive's raw bytes through, hashing them: one read serves both."""

    def __init__(self, handle):
        self._handle = handle
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.sha256.update(data)
        return data


class BoundedGunzip:
    """A readable stream of the inflated bytes of the single gzip member in ``raw``.

    ``position`` counts the bytes inflated; more than ``ceiling`` of them is a ``BundleError``
    saying ``why``. The last ``keep`` bytes handed out stay readable through ``recent`` (the tar
    reader reads ahead, and what it read past the archive's end must still be looked at).
    """

    def __init__(self, raw, ceiling: int, why: str, keep: int):
        self._raw = raw
        self._z = zlib.decompressobj(_GZIP)
        self.position = 0
        self.ceiling, self.why = ceiling, why
        self._buffer, self._offset = b"", 0
        self._keep = keep
        self._recent: deque[bytes] = deque()
        self._recent_bytes = 0

    def bound(self, ceiling: int, why: str) -> None:
        self.ceiling, self.why = ceiling, why
        if self.position > ceiling:
            raise BundleError(why)

    def read(self, size: int = -1) -> bytes:
        # Inflate no more than is asked for: the ceilings then bound what the tar reader has
        # actually asked to see, and a refusal names the first thing that went wrong.
        want = size if size is not None and size > 0 else CHUNK
        if self._offset == len(self._buffer) and not self._inflate(want):
            return b""
        out = self._buffer[self._offset : self._offset + want]
        self._offset += len(out)
        self._remember(out)
        return out

    def recent(self, count: int) -> bytes | None:
        """The last ``count`` bytes handed out, or None when they are no longer kept."""
        if count > self._recent_bytes:
            return None
        return b"".join(self._recent)[self._recent_bytes - count :]

    def has_trailing_bytes(self) -> bool:
        """After the member ended: whether the file holds anything past it (never inflated)."""
        return bool(self._z.unused_data) or bool(self._raw.read(1))

    def _inflate(self, want: int) -> bool:
        """Inflate up to ``want`` bytes into the buffer; False at the end of the gzip member."""
        while not self._z.eof:
            data = self._z.unconsumed_tail or self._raw.read(_RAW_CHUNK)
            # One byte more than the room left is enough to know the ceiling is passed
            # (and never 0, which zlib would read as "no limit").
            out = self._z.decompress(data, min(want, self.ceiling - self.position + 1))
            if out:
                self.position += len(out)
                if self.position > self.ceiling:
                    raise BundleError(self.why)
                self._buffer, self._offset = out, 0
                return True
            if not data:
                raise EOFError("the gzip stream ends before its end-of-stream marker")
        return False

    def _remember(self, out: bytes) -> None:
        self._recent.append(out)
        self._recent_bytes += len(out)
        while self._recent_bytes - len(self._recent[0]) >= self._keep:
            self._recent_bytes -= len(self._recent.popleft())
