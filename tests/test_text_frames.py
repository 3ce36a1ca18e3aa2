"""The sync session's direct write frames text itself: same bytes as the WebSocket library."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode

from reactor.server.connections import FrameReuse, text_frame_header


def library_frame(payload: bytes) -> bytes:
    return Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])


@given(st.integers(min_value=0, max_value=70_000))
def test_header_and_payload_are_the_library_frame(length: int) -> None:
    payload = b"x" * length
    assert text_frame_header(length) + payload == library_frame(payload)


def test_length_boundaries() -> None:
    for length in (0, 125, 126, 65_535, 65_536, 1 << 20):
        payload = b"y" * length
        assert text_frame_header(length) + payload == library_frame(payload)


def test_a_shared_payload_is_framed_once_and_others_framed_anew() -> None:
    framed = FrameReuse()
    shared = b'{"type":"Transition"}'
    first = framed(shared)
    assert framed(shared) is first and first == library_frame(shared)
    # Equal bytes in another object, and a longer payload: framed from their own bytes.
    copy = bytes(bytearray(shared))
    assert framed(copy) == first
    longer = b"z" * 70_000
    assert framed(longer) == library_frame(longer)
    assert framed(shared) == first
