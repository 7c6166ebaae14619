from __future__ import annotations

from pathlib import Path

import pytest

from devices.registry import Registry, load_site

ROOT = Path(__file__).resolve().parent.parent
DEMO_SITE = ROOT / "examples" / "demo-site.yaml"


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_site(DEMO_SITE)
