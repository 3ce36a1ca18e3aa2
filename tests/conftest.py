"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_support import ensure_node_modules


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """tests/node/node_modules, installed from the lock file if missing or stale."""
    return ensure_node_modules()
