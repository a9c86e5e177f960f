import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.app_support import app_env, small_dataset, small_ds  # noqa: E402, F401 - shared fixtures


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Tests never read or write the user's real ledger cache."""
    old = os.environ.get("AI_CONSOLE_CACHE_DIR")
    os.environ["AI_CONSOLE_CACHE_DIR"] = str(tmp_path_factory.mktemp("ledger-cache"))
    yield
    if old is None:
        os.environ.pop("AI_CONSOLE_CACHE_DIR", None)
    else:
        os.environ["AI_CONSOLE_CACHE_DIR"] = old
