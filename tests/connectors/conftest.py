"""Fixtures of the connector tests. The fakes themselves live in ``connector_fakes`` (a module
with its own name, so tests import them with ``from connector_fakes import ...`` whatever
conftest pytest imported last)."""

from __future__ import annotations

import pytest
from connector_fakes import SECRETS, FakeBackends


@pytest.fixture
def backends(monkeypatch: pytest.MonkeyPatch):
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    fb = FakeBackends().start()
    yield fb
    fb.stop()
