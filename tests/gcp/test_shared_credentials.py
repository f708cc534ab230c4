"""Every Google client fnproxy makes holds the process's one default-credentials object
(core/gcp_credentials.py): Firestore, both Pub/Sub publishers and Secret Manager, found once
on the metadata server (`google_identity`) instead of once per client; the emulators are
unset."""

from __future__ import annotations

import json

from tests.gcp.fixtures.google_identity import python_on_metadata

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
    code, stdout, stderr = await python_on_metadata(
        google_identity, CLIENTS_OF_AN_INSTANCE, unset=EMULATORS, **emulators
    )
    assert code == 0, stderr
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
