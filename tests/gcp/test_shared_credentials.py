"""Every Google client fnproxy makes holds the process's one default-credentials object
(core/gcp_credentials.py): Firestore, both Pub/Sub publishers and Secret Manager, found once
on the metadata server (`google_identity`) instead of once per client. In a fresh process:
google-auth reads GCE_METADATA_HOST when it is imported, and the emulators must be unset."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EMULATORS = ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "SECRETMANAGER_EMULATOR_HOST")

CLIENTS_OF_AN_INSTANCE = """
import json
from core.events.pubsub import TopicPublisher
from core.gcp_credentials import default_credentials
from core.secrets.gcp_secret_manager_api import SecretManagerApi
from core.store.firestore import FirestoreStore

def publisher(topic):
    return TopicPublisher(f"projects/demo-fnproxy/topics/{topic}")._build_client()

held = {
    "firestore": FirestoreStore("demo-fnproxy").client._credentials,
    "events topic": publisher("events")._transport._credentials,
    "async topic": publisher("async")._transport._credentials,
    "secret manager": SecretManagerApi("", 5.0)._client._transport._credentials,
}
shared = default_credentials()
print(json.dumps({
    "kind": type(shared).__module__,
    "shared by": sorted(name for name, credentials in held.items() if credentials is shared),
}))
"""


async def clients_in_a_metadata_process(google_identity, **emulators: str) -> dict:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("GOOGLE_") and name not in EMULATORS
    }
    env.update(emulators)
    env.update(GCE_METADATA_HOST=google_identity.host, GCE_METADATA_IP=google_identity.host)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLIENTS_OF_AN_INSTANCE,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode == 0, stderr.decode()
    return json.loads(stdout)


async def test_every_google_client_holds_the_one_default_credentials(google_identity):
    clients = await clients_in_a_metadata_process(google_identity)

    assert clients == {
        "kind": "google.auth.compute_engine.credentials",
        "shared by": ["async topic", "events topic", "firestore", "secret manager"],
    }


async def test_a_client_whose_emulator_is_set_has_none_of_them(google_identity):
    clients = await clients_in_a_metadata_process(
        google_identity, FIRESTORE_EMULATOR_HOST="127.0.0.1:1"
    )

    assert clients["shared by"] == ["async topic", "events topic", "secret manager"]
