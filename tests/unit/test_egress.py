"""The egress policy (core/egress.py): address classification, names refused before any lookup,
the allow-list, and the platforms' defaults. No test here touches the network: lookups go to
a fake resolver that records them."""

import ipaddress

import pytest

from core.config import ConfigError, Settings
from core.egress import EgressPolicy, address_kind, embedded_ipv4, literal_address
from core.errors import EgressDenied, InvalidRequest


class FakeResolver:
    def __init__(self, answers: dict[str, list[str]] | None = None) -> None:
        self.answers = answers or {}
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return self.answers.get(host.lower().rstrip("."), ["93.184.215.14"])


def policy(platform: str = "aws", *allow: str, resolver: FakeResolver | None = None):
    return EgressPolicy(platform, allow, resolver or FakeResolver())


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),
        ("fc00::1", "private"),
        ("100.64.0.1", "CGNAT"),
        ("100.127.255.254", "CGNAT"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("169.254.169.254", "metadata"),
        ("169.254.170.2", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", "reserved"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.1", "reserved"),
        ("198.18.0.1", "reserved"),
        ("2001:db8::1", "reserved"),
        ("2001::1", "reserved"),  # Teredo
        ("fec0::1", "reserved"),  # site-local, outside 2000::/3
        ("100::1", "reserved"),  # discard prefix
        ("93.184.215.14", "public"),
        ("8.8.8.8", "public"),
        ("172.32.0.1", "public"),
        ("100.128.0.1", "public"),
        ("2606:4700::1111", "public"),
    ],
)
def test_every_range_is_classified(address, kind):
    assert address_kind(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "metadata"),
        ("::ffff:10.0.0.1", "private"),
        ("::127.0.0.1", "loopback"),  # IPv4-compatible
        ("::169.254.169.254", "metadata"),
        ("64:ff9b::127.0.0.1", "loopback"),  # NAT64 well-known prefix
        ("64:ff9b::a9fe:a9fe", "metadata"),
        ("64:ff9b:1:7f00:0:100::", "loopback"),  # NAT64 local-use /48: 127.0.0.1
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::1", "metadata"),
        ("2002:c0a8:101::1", "private"),
        ("::ffff:8.8.8.8", "public"),
        ("64:ff9b::808:808", "public"),
    ],
)
def test_ipv6_forms_of_ipv4_addresses_are_judged_by_the_ipv4_address(address, kind):
    assert address_kind(ipaddress.ip_address(address)) == kind


def test_the_local_use_nat64_prefix_embeds_its_address_per_rfc_6052():
    assert embedded_ipv4(ipaddress.ip_address("64:ff9b:1:c000:2:2100::")) == (
        ipaddress.ip_address("192.0.2.33")
    )


@pytest.mark.parametrize(
    "host",
    ["2130706433", "0x7f000001", "0x7F.1", "127.1", "0177.0.0.1", "127.0.0.1.", "[::1]", "0"],
)
def test_numeric_spellings_are_literal_addresses(host):
    assert literal_address(host).is_loopback or literal_address(host).is_unspecified


@pytest.mark.parametrize("host", ["example.com", "deadbeef", "1e100", "0x7f000001.example", ""])
def test_names_are_not_literal_addresses(host):
    assert literal_address(host) is None


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",
        "0x7f000001",
        "127.1",
        "0.0.0.0",
        "[::ffff:127.0.0.1]",
        "::ffff:7f00:1",
        "localhost",
        "api.localhost",
        "10.0.0.1",
        "100.64.0.1",
    ],
)
async def test_loopback_and_private_literals_are_refused_on_the_cloud_without_a_lookup(host):
    resolver = FakeResolver()
    with pytest.raises(EgressDenied) as refused:
        await policy("aws", resolver=resolver).addresses(host, 80)
    assert refused.value.status == 403 and refused.value.code == "egress_denied"
    assert resolver.lookups == []


@pytest.mark.parametrize(
    "host",
    [
        "metadata.google.internal",
        "METADATA.Google.Internal.",
        "metadata",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "\uff4d\uff45\uff54\uff41\uff44\uff41\uff54\uff41",  # fullwidth "metadata"
        "169.254.169.254",
        "0xa9fea9fe",
        "[fd00:ec2::254]",
        "169.254.1.1",
    ],
)
@pytest.mark.parametrize("platform", ["local", "aws", "gcp"])
async def test_metadata_and_link_local_are_refused_on_every_platform_before_any_lookup(
    host, platform
):
    resolver = FakeResolver()
    with pytest.raises(EgressDenied):
        await policy(platform, resolver=resolver).addresses(host, 80)
    assert resolver.lookups == []


async def test_a_name_is_refused_when_any_of_its_addresses_is():
    resolver = FakeResolver({"mixed.example": ["93.184.215.14", "10.0.0.5"]})
    with pytest.raises(EgressDenied, match="private"):
        await policy("aws", resolver=resolver).addresses("mixed.example", 443)
    assert resolver.lookups == ["mixed.example"]


async def test_a_public_name_answers_its_checked_addresses_after_one_lookup():
    resolver = FakeResolver({"fn.example": ["93.184.215.14", "2606:4700::1111"]})
    checked = policy("aws", resolver=resolver)

    assert await checked.addresses("fn.example", 443) == ["93.184.215.14", "2606:4700::1111"]
    assert resolver.lookups == ["fn.example"]


async def test_a_literal_is_connected_to_in_its_canonical_form():
    assert await policy("local").addresses("2130706433", 80) == ["127.0.0.1"]
    assert await policy("aws").addresses("8.8.8.8", 80) == ["8.8.8.8"]


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "10.0.0.1", "192.168.0.10", "localhost"])
async def test_loopback_and_private_are_open_on_the_local_platform(host):
    resolver = FakeResolver({"localhost": ["127.0.0.1"]})
    assert await policy("local", resolver=resolver).addresses(host, 80)


async def test_a_name_resolving_to_loopback_is_refused_on_the_cloud():
    resolver = FakeResolver({"rebind.example": ["127.0.0.1"]})
    with pytest.raises(EgressDenied, match="loopback"):
        await policy("gcp", resolver=resolver).addresses("rebind.example", 80)


async def test_an_allowed_cidr_opens_its_addresses_and_their_ipv6_forms():
    allowing = policy("aws", "127.0.0.1/32", "10.20.0.0/16", "169.254.169.254")

    assert await allowing.addresses("127.0.0.1", 80) == ["127.0.0.1"]
    assert await allowing.addresses("::ffff:127.0.0.1", 80) == ["::ffff:7f00:1"]
    assert await allowing.addresses("10.20.3.4", 80) == ["10.20.3.4"]
    assert await allowing.addresses("169.254.169.254", 80) == ["169.254.169.254"]
    with pytest.raises(EgressDenied):
        await allowing.addresses("127.0.0.2", 80)
    with pytest.raises(EgressDenied):
        await allowing.addresses("10.21.0.1", 80)


async def test_an_allowed_host_glob_opens_the_host_whatever_it_resolves_to():
    resolver = FakeResolver({"db.corp.example": ["10.0.0.7"], "corp.example": ["10.0.0.8"]})
    allowing = policy("aws", "*.Corp.Example", "metadata.google.internal", resolver=resolver)

    assert await allowing.addresses("DB.corp.example.", 80) == ["10.0.0.7"]
    assert await allowing.addresses("metadata.google.internal", 80)
    with pytest.raises(EgressDenied):
        await allowing.addresses("corp.example", 80)
    with pytest.raises(EgressDenied):
        await allowing.addresses("metadata", 80)


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "300.1.2.3/8", "host/path", "fe80::zz"])
def test_a_malformed_allow_entry_stops_start_up(entry):
    with pytest.raises(ConfigError, match="EGRESS_ALLOW"):
        EgressPolicy("aws", [entry])


def test_the_policy_is_built_from_settings():
    built = EgressPolicy.from_settings(Settings(platform="gcp", egress_allow=("10.0.0.0/8",)))
    built.check_name("10.1.1.1")
    with pytest.raises(EgressDenied):
        built.check_name("127.0.0.1")


@pytest.mark.parametrize("platform", ["aws", "gcp"])
def test_a_callback_url_must_be_https_on_the_cloud(platform):
    with pytest.raises(InvalidRequest, match="https"):
        policy(platform).check_callback_url("http://hooks.example/done")
    policy(platform).check_callback_url("https://hooks.example/done")
    policy("local").check_callback_url("http://hooks.example/done")


@pytest.mark.parametrize(
    "url",
    [
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://169.254.169.254/latest/api/token",
        "https://2130706433:8080/",
        "https://[::ffff:127.0.0.1]/",
    ],
)
def test_a_callback_url_refused_by_name_is_refused_at_once(url):
    with pytest.raises(EgressDenied):
        policy("aws").check_callback_url(url)


def test_a_callback_url_to_metadata_is_refused_on_the_local_platform_too():
    with pytest.raises(EgressDenied):
        policy("local").check_callback_url("http://169.254.169.254/")
    policy("local").check_callback_url("http://127.0.0.1:9/")


@pytest.mark.parametrize(
    "url",
    [
        "https://[::1/cb",
        "https:///cb",
        # a port no connection can use: refused when asked, not when the callback is due
        "https://hooks.example:b/cb",
        "https://hooks.example:99999/cb",
        "https://hooks.example:-1/cb",
        "https://%5B::1%5D/cb",
    ],
)
def test_a_malformed_callback_url_is_the_callers_mistake(url):
    with pytest.raises(InvalidRequest):
        policy("aws").check_callback_url(url)
