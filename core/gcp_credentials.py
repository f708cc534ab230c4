"""fnproxy's own Google identity, shared by the GCP backends that need credentials of their own
(the gcp_functions provider, Cloud Storage blobs): the service account of
GCP_SERVICE_ACCOUNT_KEY (a key's JSON, or the path of its file), else the application default
credentials. google-auth is imported by the first call, never at module level."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


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
    metadata server's), with the cloud-platform scope."""
    import google.auth

    credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    return credentials


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
