"""Classifying IP addresses for outbound requests: which are public, and what a non-public one is.

The one definition used by every place eventlens connects to a URL someone gave it: photo and selfie
downloads (:mod:`eventlens.service.download`) and a language-model endpoint
(:mod:`eventlens.deliver.llm_captions`).
"""

from __future__ import annotations

import ipaddress
from typing import TypeAlias

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known prefix: the last 32 bits are an IPv4 address


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address leads to: IPv4-mapped (``::ffff:a.b.c.d``), NAT64 or 6to4."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is on the public internet (downloads and other outbound requests may connect).

    Public means: the address (or the IPv4 address it embeds, :func:`embedded_ipv4`) is ``is_global``
    and none of private, loopback, link-local, multicast, reserved, unspecified or (IPv6) site-local.
    ``is_global`` already excludes 100.64/10 (shared address space), 0/8 and 169.254/16.
    """
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            return is_public_address(inner)
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def address_kind(address: IPAddress) -> str:
    """What kind of non-public address this is, for messages."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            return f"{address_kind(inner)} (IPv6 address embedding {inner})"
    for kind in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(address, f"is_{kind}"):
            return f"a {kind.replace('_', '-')} address"
    if address in ipaddress.ip_network("100.64.0.0/10"):
        return "a shared (carrier-grade NAT) address"
    return "a non-public address"
