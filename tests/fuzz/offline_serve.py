"""`fnproxy serve` cut off from the network, for the fuzz test: every outbound TCP or UDP
connection and every name lookup fails at once, as on a host with no network.

A fuzzer chooses URLs (http targets, gcp `url` targets, callback URLs) and cloud function
names; none of them may reach anything real, on a CI runner with internet access as on a
laptop. The fuzz server runs on a cloud platform's egress policy, so loopback and private
destinations are refused by fnproxy itself (403 `egress_denied`: it can never call its own
port); this wrapper stops the rest - public addresses, DNS names, the AWS and Google SDKs -
at the socket, where fnproxy sees what an unreachable upstream looks like (502). The local
function workers talk over socketpairs and are not affected. The server runs on asyncio's
event loop, not uvloop (whose libuv sockets Python cannot guard).

Usage: python offline_serve.py  (the settings come from the environment, as for `fnproxy serve`)
"""

from __future__ import annotations

import errno
import socket
import sys

NETWORK_FAMILIES = (socket.AF_INET, socket.AF_INET6)


_getaddrinfo = socket.getaddrinfo


def _numeric_only(host, port, family=0, type=0, proto=0, flags=0):
    """Literal addresses only (the server binds its own loopback port); a name fails as it
    does with no resolver."""
    return _getaddrinfo(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)


def _refuse(*_args: object, **_kwargs: object) -> None:
    raise socket.gaierror(socket.EAI_NONAME, "the fuzz server has no network")


def _guard(method):
    def guarded(self: socket.socket, address, *args):
        if self.family in NETWORK_FAMILIES:
            raise OSError(errno.ENETUNREACH, f"the fuzz server has no network ({address!r})")
        return method(self, address, *args)

    return guarded


def cut_off_network() -> None:
    # uvloop connects and resolves in libuv, past Python's socket module: run on asyncio's own
    # loop (the one fnproxy has on Lambda and Cloud Functions) so that every path is guarded.
    sys.modules["uvloop"] = None  # type: ignore[assignment]
    socket.getaddrinfo = _numeric_only  # type: ignore[assignment]
    socket.gethostbyname = _refuse  # type: ignore[assignment]
    socket.gethostbyname_ex = _refuse  # type: ignore[assignment]
    for name in ("connect", "connect_ex", "sendto"):
        setattr(socket.socket, name, _guard(getattr(socket.socket, name)))


if __name__ == "__main__":
    cut_off_network()
    from handlers.cli import main

    sys.argv = ["fnproxy", "serve"]
    sys.exit(main())
