"""What pysyncobj decodes from the wire and the journal can build no arbitrary object.

pysyncobj unpickles every frame it receives (the first one before any check), every
log command it applies and every membership change, and `zlib.decompress`es each frame
with no output limit. Whoever could reach the Raft port with the cluster secret could so
run code in the node. `install()` swaps, process-wide and once, the two names pysyncobj
looks up at call time:

* `pysyncobj.pickle.loads`/`load` -> an unpickler whose class lookup refuses every
  global except those pysyncobj's own messages need (`TCPNode` in membership changes;
  `_codecs.encode` restricted to latin-1 and `bytes()` without arguments, which
  protocol 2 uses for bytes);
* `pysyncobj.tcp_connection.zlib` -> a module-like object whose `decompress` stops at
  `MAX_DECOMPRESSED` bytes, and frames whose length prefix exceeds `MAX_FRAME` close
  the connection before they are buffered further; its `compress` gives small frames a
  small window (`compress_frame`), which costs a twentieth of zlib's default set-up.

A refused frame closes the connection (pysyncobj's handling of any decode error) and
is logged at most once every `LOG_EVERY_S` seconds.
"""

from __future__ import annotations

import codecs
import io
import logging
import pickle
import struct
import threading
import time
import zlib
from typing import Any

from pysyncobj import pickle as pysyncobj_pickle
from pysyncobj import tcp_connection
from pysyncobj.node import Node, TCPNode

log = logging.getLogger(__name__)

MAX_FRAME = 64 << 20  # bytes of one frame as sent (compressed, encrypted)
MAX_DECOMPRESSED = 256 << 20  # bytes one frame may expand to
LOG_EVERY_S = 10.0


class RefusedPayload(pickle.UnpicklingError):
    """A frame or command asked for something a Raft message never contains."""


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise RefusedPayload("only latin-1 text may encode to bytes")
    return codecs.encode(text, "latin1")


def _empty_bytes(*args: Any) -> bytes:
    if args:
        raise RefusedPayload("bytes() only without arguments")  # bytes(10**12) allocates
    return b""


_ALLOWED: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): _latin1_encode,
    ("__builtin__", "bytes"): _empty_bytes,
    ("builtins", "bytes"): _empty_bytes,
    ("pysyncobj.node", "TCPNode"): TCPNode,
    ("pysyncobj.node", "Node"): Node,
}


class _RateLimitedLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = -LOG_EVERY_S
        self._suppressed = 0

    def refused(self, what: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < LOG_EVERY_S:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        log.warning("refused a Raft payload: %s (%d more since the last report)", what, suppressed)


_refusals = _RateLimitedLog()


class _NoGlobalsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        allowed = _ALLOWED.get((module, name))
        if allowed is None:
            _refusals.refused(f"global {module}.{name}")
            raise RefusedPayload(f"global {module}.{name} is not allowed")
        return allowed


def safe_loads(data: bytes | str) -> Any:
    """pickle.loads for Raft frames and commands: plain data and TCPNode only."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8")
    return _NoGlobalsUnpickler(io.BytesIO(raw)).load()


def safe_load(file: Any) -> Any:
    return _NoGlobalsUnpickler(file).load()


def bounded_decompress(data: bytes, *_args: Any) -> bytes:
    """zlib.decompress that refuses output beyond MAX_DECOMPRESSED (a zip bomb)."""
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, MAX_DECOMPRESSED)
    if inflater.unconsumed_tail or not inflater.eof:
        _refusals.refused("frame decompresses beyond the limit or is truncated")
        raise RefusedPayload("frame decompresses beyond the limit")
    return out


# zlib.compress sets up and clears its default 32 KiB window and 64 KiB hash tables on
# every call: 45-70 us, twenty times what a heartbeat or a reply takes to compress. A
# frame smaller than this gets a 4 KiB window instead (any zlib decompressor reads it:
# the window size is in the stream's header, so older peers read these frames too).
SMALL_FRAME = 64 << 10
_SMALL_WINDOW_BITS = 12
_SMALL_MEM_LEVEL = 4


def compress_frame(data: bytes, level: int = 3) -> bytes:
    """zlib.compress for pysyncobj's frames, cheap for the small ones."""
    if len(data) >= SMALL_FRAME:
        return zlib.compress(data, level)
    deflater = zlib.compressobj(level, zlib.DEFLATED, _SMALL_WINDOW_BITS, _SMALL_MEM_LEVEL)
    return deflater.compress(data) + deflater.flush()


class _BoundedZlib:
    """Stands in for the zlib module inside pysyncobj.tcp_connection."""

    compress = staticmethod(compress_frame)
    decompress = staticmethod(bounded_decompress)
    error = zlib.error


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Idempotent; called when the Raft adapter is imported."""
    global _installed
    with _install_lock:
        if _installed:
            return
        pysyncobj_pickle.loads = safe_loads
        pysyncobj_pickle.load = safe_load
        tcp_connection.zlib = _BoundedZlib
        _bound_frame_length()
        _installed = True


def _bound_frame_length() -> None:
    connection = tcp_connection.TcpConnection
    parse = connection._TcpConnection__processParseMessage

    def parse_bounded(self: Any) -> Any:
        buffer = self._TcpConnection__readBuffer
        if len(buffer) >= 4:
            (length,) = struct.unpack("i", bytes(buffer[:4]))
            if not 0 < length <= MAX_FRAME:
                _refusals.refused(f"frame length {length}")
                self.disconnect()
                return None
        return parse(self)

    connection._TcpConnection__processParseMessage = parse_bounded
