"""Shared test set-up. Reusable test helpers live in tests/support/ (tiny random encoder,
the misbehaving loopback LLM server); fixtures that use them live in the conftest of the
package folder that needs them or here when shared."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS_DIR))

# Tests never touch the network or a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = TESTS_DIR.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
