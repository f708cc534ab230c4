"""fnproxy's own Google identity, shared by the GCP backends that need credentials of their own
(the gcp_functions provider, Cloud Storage blobs): the service account of
GCP_SERVICE_ACCOUNT_KEY (a key's JSON, or the path of its file), else the application default
credentials. google-auth is imported by the first call, never at module level.

The default credentials are one object for the process, given to every Google client fnproxy
makes (Firestore, Pub/Sub, Secret Manager, Cloud Storage, the gcp_functions provider): a client
made without credentials runs `google.auth.default()` for itself (on GCP, a probe of the
metadata server) and then fetches an access token of its own, so on a cold start each of them
paid that round trip before its first call. A client whose emulator is set is given none: the
library then talks to the emulator anonymously (`library_credentials`)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import orjson

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

_default_lock = threading.Lock()
_default: Any = None


def key_credentials(key: str) -> Any:
    """The service account credentials of GCP_SERVICE_ACCOUNT_KEY (cloud-platform scope), or
    None without a key."""
    if not key:
        return None
    from google.oauth2 import service_account

    return service_account.Credentials.from_service_account_info(
        service_account_info(key), scopes=[CLOUD_PLATFORM_SCOPE]
    )


def default_credentials() -> Any:
    """The application default credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's, or the
    metadata server's), with the cloud-platform scope: found on the first call, then the same
    object for every caller."""
    global _default
    with _default_lock:
        if _default is None:
            import google.auth

            _default, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
        return _default


def library_credentials(emulator_variable: str) -> Any:
    """What to give a Google client library as its credentials: None when the environment
    variable naming its emulator is set, else the process's default credentials."""
    return None if os.environ.get(emulator_variable) else default_credentials()


def service_account_info(key: str) -> dict[str, Any]:
    """GCP_SERVICE_ACCOUNT_KEY: the key's JSON itself, or the path of its file."""
    text = key if key.lstrip().startswith("{") else Path(key).read_text(encoding="utf-8")
    try:
        info = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ValueError("GCP_SERVICE_ACCOUNT_KEY is not a service account key's JSON") from None
    if not isinstance(info, dict):
        raise ValueError("GCP_SERVICE_ACCOUNT_KEY is not a service account key's JSON")
    return info
