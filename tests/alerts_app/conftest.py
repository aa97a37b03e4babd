from __future__ import annotations

import datetime

import pytest

NOW = datetime.datetime(2026, 6, 3, 12, 0, tzinfo=datetime.UTC)  # a Wednesday


@pytest.fixture
def now() -> datetime.datetime:
    return NOW
