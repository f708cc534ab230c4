"""The egress policy: the one check every caller-chosen destination passes (http targets,
`gcp_functions` url targets, callback URLs, every redirect hop).

1. **Names first.** Metadata host names (`metadata.google.internal`, `instance-data`, ...) and
   `localhost` are judged by name, and a literal address in any numeric spelling (`127.0.0.1`,
   `2130706433`, `0x7f000001`, `127.1`, `[::ffff:127.0.0.1]`) by its value, before any lookup.
2. **Resolve, then check every address.** A name is resolved once; the destination is refused
   when any of its addresses is not public: loopback, private (RFC 1918, fc00::/7), CGNAT,
   unspecified, link-local, a cloud metadata address, multicast, reserved or broadcast, or an
   IPv4-mapped, IPv4-compatible, NAT64 or 6to4 form of one of these.
3. **Connect to the checked address.** `addresses()` answers the checked addresses; the HTTP
   client connects to one of them (the name is kept for TLS and `Host`), so a second lookup
   can never swap the address after the check (DNS rebinding).

Loopback, private, CGNAT and unspecified destinations are open by default only on the `local`
platform (a laptop calls its own functions); link-local, metadata, multicast and reserved ones
are closed everywhere. `EGRESS_ALLOW` opens more: a CIDR opens the addresses in it, a host glob
(fnmatch, case-insensitive) opens a host whatever it resolves to. A refusal raises
`core.errors.EgressDenied` (403 `egress_denied`).
"""

from __future__ import annotations

import asyncio
import fnmatch
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from core.config import ConfigError, Settings
from core.errors import EgressDenied, InvalidRequest

__all__ = ["EgressPolicy", "Resolver", "address_kind"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""(host, port) -> the host's addresses, as text."""

PUBLIC = "public"
LOCAL_NETWORK_KINDS = frozenset({"loopback", "private", "CGNAT", "unspecified"})
"""Open by default on the local platform only; every other kind but `public` is closed
everywhere unless EGRESS_ALLOW names it."""
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.internal",
        "metadata.tencentyun.com",
        "metadata.packet.net",
    }
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OCI, ...
        "169.254.170.2",  # ECS task credentials
        "169.254.170.23",  # EKS pod identity
        "fd00:ec2::254",  # AWS IMDS over IPv6 (a private address, closed even on local)
        "fd00:ec2::23",  # EKS pod identity over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)


def _networks(kind: str, *cidrs: str) -> list[tuple[Network, str]]:
    return [(ipaddress.ip_network(cidr), kind) for cidr in cidrs]


IPV4_KINDS = (
    _networks("unspecified", "0.0.0.0/8")
    + _networks("loopback", "127.0.0.0/8")
    + _networks("private", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
    + _networks("CGNAT", "100.64.0.0/10")
    + _networks("link-local", "169.254.0.0/16")
    + _networks("multicast", "224.0.0.0/4")
    + _networks(
        "reserved",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "240.0.0.0/4",  # reserved, and 255.255.255.255 (broadcast)
    )
)
IPV6_KINDS = (
    _networks("unspecified", "::/128")
    + _networks("loopback", "::1/128")
    + _networks("private", "fc00::/7")
    + _networks("link-local", "fe80::/10")
    + _networks("multicast", "ff00::/8")
    + _networks(
        "reserved",
        "2001::/23",  # IETF protocol assignments (Teredo, benchmarking, ...)
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
    )
)
GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
"""Every IPv6 address outside it (site-local, discard, unassigned space) is reserved."""
IPV4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4), else None."""
    if address.version == 4:
        return None
    packed = address.packed
    if address in IPV4_MAPPED or address in NAT64:
        return ipaddress.IPv4Address(packed[12:])
    if address in IPV4_COMPATIBLE and int(address) > 1:  # "::" and "::1" are themselves
        return ipaddress.IPv4Address(packed[12:])
    if address in NAT64_LOCAL:  # RFC 6052 /48: bits 48-63 and 72-87 (bits 64-71 are zero)
        return ipaddress.IPv4Address(packed[6:8] + packed[9:11])
    if address in SIX_TO_FOUR:
        return ipaddress.IPv4Address(packed[2:6])
    return None


def address_kind(address: Address) -> str:
    """`public`, or why the address is not: `loopback`, `private`, `CGNAT`, `unspecified`,
    `link-local`, `metadata`, `multicast` or `reserved` (also for its IPv6 forms)."""
    if address in METADATA_ADDRESSES:
        return "metadata"
    inner = embedded_ipv4(address)
    if inner is not None:
        return address_kind(inner)
    for network, kind in IPV4_KINDS if address.version == 4 else IPV6_KINDS:
        if address in network:
            return kind
    if address.version == 6 and address not in GLOBAL_UNICAST_V6:
        return "reserved"
    return PUBLIC


def literal_address(host: str) -> Address | None:
    """The address a host names literally, in any spelling the C resolver accepts (`127.1`,
    `2130706433`, `0x7f000001`, `0177.0.0.1`, `[::1]`), else None (a name to look up)."""
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not host or not all(char in "0123456789abcdefxABCDEFX." for char in host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def normalized_host(host: str) -> str:
    """Lower case, no trailing dot, IDNA-encoded (fullwidth or other look-alike letters map to
    ASCII as the resolver would map them)."""
    host = host.strip("[]").rstrip(".").lower()
    try:
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return host


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's TCP addresses from the system resolver (raises `OSError` when it has none)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class EgressPolicy:
    def __init__(
        self,
        platform: str,
        allow: Iterable[str] = (),
        resolver: Resolver = system_resolver,
    ) -> None:
        """`allow`: EGRESS_ALLOW's CIDRs (or single addresses) and host globs."""
        self.platform = platform
        self._resolver = resolver
        self._open_kinds = {PUBLIC} | (LOCAL_NETWORK_KINDS if platform == "local" else set())
        self._networks: list[Network] = []
        self._host_globs: list[str] = []
        for entry in allow:
            self._add_allowed(entry)

    @classmethod
    def from_settings(cls, settings: Settings) -> EgressPolicy:
        return cls(settings.platform, settings.egress_allow)

    def _add_allowed(self, entry: str) -> None:
        try:
            self._networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            if "/" in entry or ":" in entry:
                raise ConfigError(
                    f"EGRESS_ALLOW: {entry!r} is neither a CIDR nor a host glob"
                ) from None
            self._host_globs.append(entry.lower().rstrip("."))

    def check_name(self, host: str) -> None:
        """Judge `host` without looking it up: a metadata name, `localhost`, or a literal
        address the policy closes raises `EgressDenied`. Names left to the resolver pass."""
        name = normalized_host(host)
        if self._host_allowed(name):
            return
        if name in METADATA_HOSTS or name.endswith(".metadata.google.internal"):
            self._refuse(host, "metadata")
        if name == "localhost" or name.endswith(".localhost"):
            self._check_kind(host, "loopback")
        address = literal_address(name)
        if address is not None:
            self._check_address(host, address)

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for `host`, every one checked: a literal address as it
        is (whatever its spelling), a name looked up once. Raises `EgressDenied`, or `OSError`
        when the name does not resolve."""
        self.check_name(host)
        address = literal_address(host)
        if address is not None:
            return [str(address)]
        resolved = await self._resolver(host, port)
        if not resolved:
            raise socket.gaierror(f"{host!r} has no address")
        if not self._host_allowed(normalized_host(host)):
            for text in resolved:
                self._check_address(host, ipaddress.ip_address(text.partition("%")[0]))
        return resolved

    def check_callback_url(self, url: str) -> None:
        """A callback URL at request time: https on the cloud platforms (`InvalidRequest`),
        and not refused by name (`EgressDenied`)."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port no connection can use
        except ValueError as malformed:  # an unclosed IPv6 bracket, a port 'b' or 99999, ...
            raise InvalidRequest(f"callback_url is malformed: {malformed}") from None
        if self.platform in ("aws", "gcp") and parts.scheme.lower() != "https":
            raise InvalidRequest(f"callback_url must be https on {self.platform}")
        if not parts.hostname:
            raise InvalidRequest("callback_url has no host")
        self.check_name(parts.hostname)

    def _host_allowed(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, glob) for glob in self._host_globs)

    def _check_address(self, host: str, address: Address) -> None:
        if self._address_allowed(address):
            return
        self._check_kind(host, address_kind(address))

    def _address_allowed(self, address: Address) -> bool:
        inner = embedded_ipv4(address)
        return any(
            address in network or (inner is not None and inner in network)
            for network in self._networks
        )

    def _check_kind(self, host: str, kind: str) -> None:
        if kind not in self._open_kinds:
            self._refuse(host, kind)

    def _refuse(self, host: str, kind: str) -> None:
        raise EgressDenied(f"egress to {host!r} is refused ({kind} destination)", reason=kind)
