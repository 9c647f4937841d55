"""Which addresses monitor may connect to for a feed's sake: one policy for the feed itself, its
redirects, its items' pages, their robots.txt and the feeds a page names.

- Link-local space (169.254/16, fe80::/10) and the cloud metadata addresses are never reached,
  whatever the feed or the config says.
- Internal addresses (loopback, private, unique-local, and everything else not globally routable,
  `0.0.0.0` included: Linux connects it to loopback) are reached only from an internal origin:
  the feed's own URL is on such an address (an intranet feed may link to intranet pages), or
  `poller.allow_private` says so. A public feed cannot point the poller at the machines behind it.
- Every form of an address is read as the address it is: IPv4-mapped and NAT64 IPv6 as the IPv4
  address they carry, and (`literal`) the legacy IPv4 spellings `2130706433` and `0x7f.1`.

Pure: addresses in, a reason out. `monitor.feeds.guard` applies it to the addresses actually
connected to.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from typing import Final

Address = IPv4Address | IPv6Address

METADATA: Final = frozenset(
    ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)
_NAT64: Final = IPv6Network("64:ff9b::/96")
FLAG: Final = "--allow-private"  # the user-run commands' flag
CONFIG_KEY: Final = "poller: {allow_private: true}"


def normalized(ip: Address) -> Address:
    """The IPv4 address an IPv4-mapped, NAT64 or 6to4 IPv6 address carries; else `ip`."""
    if isinstance(ip, IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour is not None:
            return ip.sixtofour
    return ip


def addresses(found: Sequence[str]) -> list[Address]:
    """Parse the addresses a host name resolved to (IPv6 scope ids dropped, embedded IPv4
    addresses read as such)."""
    return [normalized(ip_address(a.split("%", 1)[0])) for a in found]


def literal(host: str) -> Address | None:
    """The address a URL's host spells, in any form a resolver accepts (`127.0.0.1`, `::1`,
    `[::1]`, `2130706433`, `0x7f.1`, `127.1`); None for a name."""
    bare = host.strip("[]").split("%", 1)[0]
    try:
        return normalized(ip_address(bare))
    except ValueError:
        pass
    if ":" in bare or not bare or not all(c.isalnum() or c == "." for c in bare):
        return None
    try:
        packed = socket.inet_aton(bare)  # pure: the legacy forms getaddrinfo also accepts
    except OSError:
        return None
    return IPv4Address(packed)


def never(ip: Address) -> bool:
    """Whether `ip` is link-local or a metadata address: never reached."""
    ip = normalized(ip)
    return ip in METADATA or ip.is_link_local


def internal(ip: Address) -> bool:
    """Whether `ip` is not a public address (loopback, private, unique-local, CGNAT, reserved,
    unspecified, multicast, ...)."""
    ip = normalized(ip)
    return not ip.is_global or ip.is_multicast


def internal_origin(found: Sequence[Address]) -> bool:
    """Whether an origin at these addresses may reach internal ones: all of them internal (a
    name that also resolves to a public address is treated as public)."""
    return bool(found) and all(internal(ip) and not never(ip) for ip in found)


@dataclass(frozen=True, slots=True)
class Guard:
    """The policy for one fetch: `allow_private` when the origin is internal or the config (or
    the user's flag) allows it; `hint` says how to allow internal targets."""

    allow_private: bool
    hint: str = CONFIG_KEY

    def refusal(self, target: Sequence[Address]) -> str | None:
        """Why none of `target` may be connected to, or None when one may."""
        allowed = [ip for ip in target if self.reason(ip) is None]
        if allowed or not target:
            return None
        return self.reason(target[0])

    def reason(self, ip: Address) -> str | None:
        """Why `ip` must not be connected to, or None."""
        ip = normalized(ip)
        if never(ip):
            kind = " ".join(
                k
                for k, yes in (("link-local", ip.is_link_local), ("cloud metadata", ip in METADATA))
                if yes
            )
            return f"the {kind} address {ip} is never fetched"
        if internal(ip) and not self.allow_private:
            return (
                f"the internal address {ip} is not fetched for a public origin "
                f"({self.hint} allows it)"
            )
        return None


def refusal(
    origin: Sequence[Address], target: Sequence[Address], *, allow_private: bool
) -> str | None:
    """Why a fetch for an origin at `origin` must not go to a host at `target`, or None.
    Link-local and metadata addresses are refused even when `allow_private`."""
    return Guard(allow_private=allow_private or internal_origin(origin)).refusal(target)
