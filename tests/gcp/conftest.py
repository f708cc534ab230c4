"""Fixtures of the GCP tests. The Firestore and Pub/Sub emulators are session fixtures of
tests/conftest.py; Secret Manager, which has no emulator, is served by a test server here."""

import os
from collections.abc import Iterator

import pytest

from tests.gcp.secret_manager_server import SecretManagerServer


@pytest.fixture(scope="session")
def secret_manager() -> Iterator[SecretManagerServer]:
    """One Secret Manager test server per session; SECRETMANAGER_EMULATOR_HOST points at it.
    It has no reset: tests use unique secret names."""
    server = SecretManagerServer()
    server.start()
    os.environ["SECRETMANAGER_EMULATOR_HOST"] = server.host
    try:
        yield server
    finally:
        server.stop()
