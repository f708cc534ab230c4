"""Which blobs backend the settings choose (core/wiring.py `build_blobs`), and the blobs
settings' own checks. Building a backend reaches no network."""

from __future__ import annotations

import secrets

import pytest

from core.auth.keys import KeyRing
from core.blobs.links import BlobLinks
from core.config import ConfigError, load_settings
from core.secrets.env import EnvSecretSource
from core.wiring import archive_limits, build_blobs

LINKS = BlobLinks(KeyRing(EnvSecretSource({"MODULE_SECRET_KEY": secrets.token_urlsafe(48)})))


def blobs_for(**environ: str):
    return build_blobs(load_settings(environ, dotenv=None), LINKS)


def test_locally_blobs_live_in_the_data_folder(tmp_path):
    blobs = blobs_for(FNPROXY_DATA_DIR=str(tmp_path))

    assert type(blobs).__name__ == "LocalBlobs"
    assert blobs.root == tmp_path / "blobs"


@pytest.mark.parametrize(("platform", "kind"), [("aws", "S3Blobs"), ("gcp", "GcsBlobs")])
def test_a_cloud_column_uses_its_bucket_under_the_prefix(platform, kind):
    blobs = blobs_for(FNPROXY_PLATFORM=platform, BLOBS_BUCKET="archive", BLOBS_PREFIX="/env/dev/")

    assert type(blobs).__name__ == kind
    assert blobs._prefix == "env/dev/"


@pytest.mark.parametrize("platform", ["aws", "gcp"])
def test_a_cloud_deployment_without_a_bucket_runs_without_blobs(platform):
    assert blobs_for(FNPROXY_PLATFORM=platform) is None


def test_a_backend_chosen_by_name_needs_its_bucket():
    with pytest.raises(ConfigError, match="BLOBS_BUCKET: required by the s3 backend"):
        blobs_for(FNPROXY_PLATFORM="aws", BLOBS_BACKEND="s3")


def test_one_port_can_leave_its_column():
    blobs = blobs_for(BLOBS_BACKEND="s3", BLOBS_BUCKET="archive")

    assert type(blobs).__name__ == "S3Blobs"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"BLOBS_BACKEND": "azure"},
            "BLOBS_BACKEND: expected one of , local, s3, gcs, got 'azure'",
        ),
        ({"BLOBS_PREFIX": "a b"}, "BLOBS_PREFIX: expected path segments"),
    ],
)
def test_a_bad_blobs_setting_names_itself(environ, message):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ, dotenv=None)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(("retention", "archive_all"), [("0", False), ("31", True)])
def test_an_archive_outliving_the_records_takes_every_part(retention, archive_all):
    settings = load_settings(
        {"HISTORY_RETENTION_DAYS": "30", "BLOBS_RETENTION_DAYS": retention}, dotenv=None
    )

    assert archive_limits(settings).archive_all is archive_all


@pytest.mark.parametrize("retention", ["1", "30"])
def test_an_archive_shorter_than_the_records_is_refused(retention):
    settings = load_settings(
        {"HISTORY_RETENTION_DAYS": "30", "BLOBS_RETENTION_DAYS": retention}, dotenv=None
    )

    with pytest.raises(ConfigError) as caught:
        archive_limits(settings)
    assert str(caught.value) == (
        "BLOBS_RETENTION_DAYS: must be 0 or longer than HISTORY_RETENTION_DAYS (30), "
        f"or records outlive their archived parts, got {retention}"
    )


@pytest.mark.parametrize("platform", ["aws", "gcp"])
def test_an_archive_retention_without_a_bucket_is_refused(platform):
    with pytest.raises(ConfigError, match="^BLOBS_RETENTION_DAYS: needs a blobs backend"):
        blobs_for(FNPROXY_PLATFORM=platform, BLOBS_RETENTION_DAYS="90")


def test_a_negative_archive_retention_names_itself():
    with pytest.raises(ConfigError, match="^BLOBS_RETENTION_DAYS: must not be below 0"):
        load_settings({"BLOBS_RETENTION_DAYS": "-1"}, dotenv=None)
