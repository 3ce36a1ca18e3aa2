"""Property tests with an oracle: stored blobs (files and inline rows) against a model of
live `_storage` documents, and byte ranges against Python slicing."""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from files_support import call, served, staged_files, stored_blobs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reactor.server.files import _range

# Small ones kept in the database, one past the inline size kept in files/.
CONTENTS = [b"alpha", b"beta", b"gamma" * 1000, b"delta" * 20_000]

operations = st.lists(st.one_of(
    st.tuples(st.just("store"), st.integers(0, len(CONTENTS) - 1)),
    st.tuples(st.sampled_from(["delete_in_action", "delete_in_mutation"]), st.integers(0, 9)),
), min_size=1, max_size=25)


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=operations)
def test_stored_blobs_are_exactly_those_live_documents_reference(
        steps: list[tuple[str, int]]) -> None:
    async def run() -> None:
        with tempfile.TemporaryDirectory(prefix="reactor-files-model-") as tmp:
            data_dir = Path(tmp)
            async with served(data_dir) as (engine, _):
                live: list[tuple[str, bytes]] = []  # the model: (storage id, contents)
                for operation, index in steps:
                    if operation == "store":
                        content = CONTENTS[index]

                        async def body(data: bytes = content) -> AsyncIterator[bytes]:
                            yield data

                        live.append((await engine.files.store(body()), content))
                    elif live:
                        storage_id, _ = live.pop(index % len(live))
                        if operation == "delete_in_action":
                            await call(engine, "action", "files:delete_from_action",
                                       {"id": storage_id})
                        else:
                            await call(engine, "mutation", "files:delete", {"id": storage_id})
                            await engine.files.released()  # it runs after the commit
                    expected = sorted({hashlib.sha256(c).hexdigest() for _, c in live})
                    assert await stored_blobs(engine, data_dir) == expected
                    docs = await call(engine, "query", "files:all")
                    assert sorted(d["_id"] for d in docs) == sorted(i for i, _ in live)
                assert staged_files(data_dir) == []

    asyncio.run(run())


@given(size=st.integers(0, 300), first=st.integers(0, 400) | st.none(),
       last=st.integers(0, 400) | st.none())
def test_single_ranges_match_python_slicing(size: int, first: int | None,
                                            last: int | None) -> None:
    header = f"bytes={'' if first is None else first}-{'' if last is None else last}"
    data = bytes(range(256)) * 2
    data = data[:size]
    span = _range(header, size)
    if first is None and last is None:
        assert span == (0, size, False)  # not a range: the whole file
    elif first is None:
        assert last is not None
        if last == 0 or size == 0:
            assert span is None
        else:
            assert span is not None and data[span[0]:span[1]] == data[-last:] and span[2]
    elif last is not None and last < first:
        assert span == (0, size, False)  # invalid: ignored
    elif first >= size:
        assert span is None  # 416
    else:
        assert span is not None and span[2]
        expected = data[first:] if last is None else data[first:last + 1]
        assert data[span[0]:span[1]] == expected
