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
