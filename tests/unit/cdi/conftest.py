"""Fixtures of the CDI tests (host data lives in cdi_hosts.py)."""

import pytest

from cdi_hosts import SCHEMA_DIR, driver_mig_minors, official_schema_validator


@pytest.fixture
def mig_minors_text():
    return driver_mig_minors()


@pytest.fixture(scope="session")
def schema_validator():
    return official_schema_validator()


@pytest.fixture
def official_schema(schema_validator):
    """The official schema validator; skips only when the reference copy is absent."""
    if schema_validator is None:
        pytest.skip("official CDI schema not found at %s" % SCHEMA_DIR)
    return schema_validator
