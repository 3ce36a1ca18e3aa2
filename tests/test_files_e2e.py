"""File storage against `reactor serve`: the official client's upload flow, unchanged."""

from __future__ import annotations

from pathlib import Path

from e2e_support import NODE_DIR, ReactorServer, run_node
from files_support import FILES_APP


def test_the_official_clients_upload_flow_runs_unchanged(tmp_path: Path,
                                                         node_modules: Path) -> None:
    with ReactorServer(FILES_APP, tmp_path / "data") as server:
        result = run_node(NODE_DIR / "files_upload.mjs", server.url, timeout=60)
    assert result["postUrl"].startswith(f"{server.url}/api/storage/upload?token=")
    assert result["uploadStatus"] == 200
    assert result["url"] == f"{server.url}/api/storage/{result['storageId']}"
    assert (result["status"], result["contentType"], result["same"]) == (200, "image/png", True)
    assert len(result["etag"]) == 66
    assert result["rangedStatus"] == 206 and result["rangedBody"] == result["expectedRange"]
    assert (result["reusedStatus"], result["reusedCode"]) == (403, "UploadTokenUsed")
    assert result["goneStatus"] == 404


def test_a_large_file_streams_through_without_growing_the_server(tmp_path: Path) -> None:
    """64 MiB up and down: the server's resident memory grows by far less than the file."""
    import hashlib
    import json
    import os
    import threading
    import urllib.request

    import httpx

    size, block = 64 * 1024 * 1024, os.urandom(1024 * 1024)
    with ReactorServer(FILES_APP, tmp_path / "data") as server:
        assert server.process is not None
        status = Path(f"/proc/{server.process.pid}/status")

        def rss() -> int:
            line = next(x for x in status.read_text().splitlines() if x.startswith("VmRSS:"))
            return int(line.split()[1]) * 1024

        peak = [rss()]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.005):
                peak[0] = max(peak[0], rss())

        request = urllib.request.Request(
            f"{server.url}/api/mutation", method="POST",
            data=json.dumps({"path": "messages:generateUploadUrl", "args": {}}).encode(),
            headers={"content-type": "application/json"})
        with urllib.request.urlopen(request) as reply:
            url = json.loads(reply.read())["value"]
        before = rss()
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            with httpx.Client(timeout=120) as http:
                uploaded = http.post(url, content=(block for _ in range(size // len(block))))
                storage_id = uploaded.json()["storageId"]
                digest = hashlib.sha256()
                with http.stream("GET", f"{server.url}/api/storage/{storage_id}") as download:
                    for chunk in download.iter_bytes():
                        digest.update(chunk)
        finally:
            done.set()
            sampler.join()
    assert digest.hexdigest() == hashlib.sha256(block * (size // len(block))).hexdigest()
    assert peak[0] - before < 32 * 1024 * 1024, f"RSS grew by {(peak[0] - before) >> 20} MiB"
