import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
MODELS = SHARED / "models"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: suites too long for the default run; run with -m slow")


@pytest.fixture
def shared_models():
    if not MODELS.exists():
        pytest.fail(f"{MODELS} is missing: CI must have ../shared beside the project")
    return MODELS
