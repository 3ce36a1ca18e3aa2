"""Fixtures for the example app's tests: a fresh engine per test and two users."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from example_app_support import APP_DIR, Member, quick_user

from reactor.testing import ReactorTest


@pytest.fixture
async def t() -> AsyncIterator[ReactorTest]:
    async with ReactorTest(APP_DIR) as engine:
        yield engine


@pytest.fixture
async def alice(t: ReactorTest) -> Member:
    return await quick_user(t, "alice@example.com", "Alice")


@pytest.fixture
async def bob(t: ReactorTest) -> Member:
    return await quick_user(t, "bob@example.com", "Bob")
