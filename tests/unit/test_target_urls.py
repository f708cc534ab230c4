"""A target URL that cannot be parsed is a validation error naming its field (422 with the
field in `errors`), whatever part of it is malformed: never a 500, nor a bare 400 later."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from core.targets import Target

TARGETS = TypeAdapter(Target)
MALFORMED = [
    "https://[x",  # an unclosed IPv6 bracket
    "https://x]/",
    "https://[x]/",  # brackets around what is no IPv6 address
    "https://fn.example:b/",  # a port that is no number
    "https://fn.example:99999/",  # out of range
    "https://fn.example:-1/",
]


@pytest.mark.parametrize("url", MALFORMED)
@pytest.mark.parametrize("provider", ["http", "gcp_functions"])
def test_a_malformed_url_fails_validation_on_its_field(provider, url):
    with pytest.raises(ValidationError) as failed:
        TARGETS.validate_python({"provider": provider, "url": url})
    (error,) = failed.value.errors()
    assert error["loc"] == (provider, "url")


@pytest.mark.parametrize("provider", ["http", "gcp_functions"])
def test_a_well_formed_url_keeps_its_port(provider):
    target = TARGETS.validate_python({"provider": provider, "url": "https://fn.example:8443/a/"})
    assert target.url == "https://fn.example:8443/a/"
