"""Which redirects a poll may follow: none into link-local space (cloud metadata at
169.254.169.254), and none from a public host into loopback or private addresses.

A feed URL the user lists may be anything (an intranet feed is a feed), but a public server must
not be able to point the poller at the machines behind it. Pure: addresses in, a reason out.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address

Address = IPv4Address | IPv6Address


def _internal(ip: Address) -> bool:
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved


def _public(ip: Address) -> bool:
    return not _internal(ip) and not ip.is_multicast and not ip.is_unspecified


def addresses(found: Sequence[str]) -> list[Address]:
    """Parse the addresses a host name resolved to (IPv6 scope ids dropped, IPv4-mapped IPv6
    addresses read as the IPv4 address they carry)."""
    parsed = [ip_address(a.split("%", 1)[0]) for a in found]
    return [
        ip.ipv4_mapped if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None else ip
        for ip in parsed
    ]


def refusal(
    origin: Sequence[Address], target: Sequence[Address], *, allow_private: bool
) -> str | None:
    """Why a redirect from a host at `origin` to one at `target` must not be followed, or None."""
    if allow_private:
        return None
    for ip in target:
        if ip.is_link_local:
            return f"redirect to the link-local address {ip} refused"
    if origin and all(_public(ip) for ip in origin):
        for ip in target:
            if _internal(ip):
                return (
                    f"redirect from a public address to the internal address {ip} refused "
                    "(poller: {allow_private_redirects: true} allows it)"
                )
    return None
