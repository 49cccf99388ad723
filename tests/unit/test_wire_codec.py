"""Nothing pysyncobj decodes can construct an arbitrary object or expand without bound."""

from __future__ import annotations

import os
import pickle
import zlib
from pathlib import Path

import pytest
from pysyncobj import pickle as pysyncobj_pickle
from pysyncobj.node import TCPNode

from keymgr.raft import wire_codec


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def test_installed_for_every_raft_process() -> None:
    import keymgr.raft.node  # noqa: F401  (installs on import)

    assert pysyncobj_pickle.loads is wire_codec.safe_loads


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"type": "append_entries", "x": _Exploit(marker)}, protocol)
    with pytest.raises(pickle.UnpicklingError):
        wire_codec.safe_loads(payload)
    assert not marker.exists()


def test_what_pysyncobj_sends_still_decodes() -> None:
    messages = [
        {"type": "append_entries", "term": 3, "commit_index": 9, "prevLogIdx": 8,
         "prevLogTerm": 3, "entries": [(b"\x01cmd", 9, 3), (b"", 10, 3)]},
        {"type": "append_entries", "term": 3, "commit_index": 9,
         "serialized": (b"chunk", True, False, 0)},
        {"type": "next_node_idx", "next_node_idx": 11, "reset": False, "success": True},
        "127.0.0.1:7101",
        os.urandom(32),
        ["add", "127.0.0.1:7104", TCPNode("127.0.0.1:7104")],
        (1, (b"payload",), {}),
    ]  # fmt: skip
    for message in messages:
        assert wire_codec.safe_loads(pickle.dumps(message, 2)) == message


def test_bytes_and_codecs_cannot_be_abused() -> None:
    big = b"\x80\x02c__builtin__\nbytes\nJ\x00\x00\x00@\x85R."  # bytes(2**30)
    with pytest.raises(pickle.UnpicklingError):
        wire_codec.safe_loads(big)
    other_codec = b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00zlib\x86R."
    with pytest.raises(pickle.UnpicklingError):
        wire_codec.safe_loads(other_codec)


def test_decompression_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire_codec, "MAX_DECOMPRESSED", 1 << 20)
    bomb = zlib.compress(b"\x00" * (8 << 20), 9)
    assert len(bomb) < 20_000
    with pytest.raises(pickle.UnpicklingError):
        wire_codec.bounded_decompress(bomb)
    assert wire_codec.bounded_decompress(zlib.compress(b"ok")) == b"ok"


@pytest.mark.parametrize(
    "size", [0, 1, 96, 1_700, wire_codec.SMALL_FRAME - 1, wire_codec.SMALL_FRAME, 1 << 20]
)
def test_frames_compress_so_any_peer_decompresses_them(size: int) -> None:
    """Small frames get a small window, large ones zlib's default; both are plain zlib
    streams: our bounded decompressor and zlib itself (an older peer) read them back."""
    data = (os.urandom(size // 2) + bytes(size - size // 2)) if size else b""
    frame = wire_codec.compress_frame(data, 3)
    assert zlib.decompress(frame) == data
    assert wire_codec.bounded_decompress(frame) == data
    window_bits = (frame[0] >> 4) + 8  # the zlib header's CINFO
    assert window_bits == (15 if size >= wire_codec.SMALL_FRAME else 12)


def test_pysyncobj_compresses_with_the_frame_compressor() -> None:
    from pysyncobj import tcp_connection

    import keymgr.raft.node  # noqa: F401  (installs on import)

    assert tcp_connection.zlib.compress is wire_codec.compress_frame
