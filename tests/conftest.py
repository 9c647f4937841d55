"""Shared fixtures: paths to the repository's rules and the test data."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SEED_JSON = DATA / "articles" / "seed-cis-defense.json"
SEED_FEED = DATA / "feeds" / "world-with-seed.rss"
SHIPPED_RULES = ROOT / "rules"


@pytest.fixture
def shipped_rules() -> Path:
    """The rules directory the project ships."""
    return SHIPPED_RULES
