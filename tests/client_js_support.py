"""client_js (the reactor-client package) for tests: its path and its locked dev dependencies."""

from __future__ import annotations

import subprocess
from pathlib import Path

from e2e_support import REPO_ROOT, NodeError

CLIENT_JS = REPO_ROOT / "client_js"
_LOCK_FILE = CLIENT_JS / "package-lock.json"
# npm ci writes this copy of the lock file last: its age tells whether the install is current.
_INSTALLED_STAMP = CLIENT_JS / "node_modules" / ".package-lock.json"


def ensure_client_js_modules() -> Path:
    """Install client_js's locked dependencies when missing or older than the lock file.

    A node_modules that is a link (a git worktree sharing another checkout's) is used
    as it is: installing through it would replace the other checkout's copy.
    """
    if (CLIENT_JS / "node_modules").is_symlink():
        return CLIENT_JS / "node_modules"
    if (not _INSTALLED_STAMP.exists()
            or _LOCK_FILE.stat().st_mtime > _INSTALLED_STAMP.stat().st_mtime):
        result = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CLIENT_JS,
                                capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise NodeError(f"npm ci failed in {CLIENT_JS}:\n{result.stdout}\n{result.stderr}")
        _INSTALLED_STAMP.touch()
    return CLIENT_JS / "node_modules"
