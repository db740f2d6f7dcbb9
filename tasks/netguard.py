"""SSRF guard: which IP addresses newswire may connect to, enforced where the socket is opened.

Design decisions:

* **Deny by default, by table.** An address is refused when it falls in any special-purpose
  range (RFC 6890 and successors): private, loopback, link-local, unique-local, CGNAT, benchmark,
  documentation, multicast, reserved, unspecified. The tables are written out below rather than
  taken from ``ipaddress.is_global``, whose answers changed between Python patch releases.
  For IPv6 only global unicast (2000::/3) is allowed at all.
* **Look through tunnels.** IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d) and 6to4
  (2002:aabb:ccdd::) addresses reach the IPv4 address they embed, so that address is judged.
  Teredo (2001::/32) is refused outright: no news site lives there.
* **Odd spellings are normalised first.** ``2130706433``, ``0x7f.1``, ``127.1``, ``017700000001``
  are all 127.0.0.1 to the C library; :func:`literal_address` applies the same ``inet_aton`` rules
  so a literal is judged as the address it will really be.
* **Any bad address poisons the name.** If a host name resolves to several addresses and one of
  them is forbidden, the whole name is refused: otherwise a DNS answer mixing a public and a
  private address could steer the connection.
* **Check the address you connect to.** :class:`GuardedBackend` is an httpcore network backend:
  it resolves, checks every address and then connects to one of exactly those addresses, so
  there is no second DNS lookup an attacker could rebind between check and connect. TLS still
  verifies the certificate against the host name (httpcore passes the origin host as SNI).
* **allow_networks opens exactly what it lists.** An address inside an allowed network is
  accepted even if special; nothing else changes.
* **localhost is loopback** (RFC 6761): ``localhost``, ``localhost.`` and ``*.localhost`` mean
  127.0.0.1 without asking DNS, so they are refused even where DNS would not answer for them.
* **The resolver is injectable** (``Resolver``), so tests can make any name resolve anywhere.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpcore

from config.settings import IPNetwork
from tasks.errors import FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses the host resolves to. Must raise OSError when it cannot resolve.
Resolver = Callable[[str, int], Sequence[IPAddress]]

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Refused IPv4 ranges, with the reason shown in the error message.
FORBIDDEN_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "unspecified"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("100.64.0.0/10"), "shared address space (CGNAT)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.0.0.0/24"), "IETF protocol assignments"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("192.88.99.0/24"), "6to4 relay anycast"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),  # includes 255.255.255.255 broadcast
)

# IPv6 outside 2000::/3 (global unicast) is refused wholesale: that covers ::, ::1, ULA fc00::/7,
# link-local fe80::/10, multicast ff00::/8, discard 100::/64, SIIT, NAT64 local-use ... .
# These are the special ranges *inside* 2000::/3.
GLOBAL_UNICAST_V6 = _V6("2000::/3")
FORBIDDEN_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("2001::/32"), "Teredo tunnel"),
    (_V6("2001::/23"), "IETF protocol assignments"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("3fff::/20"), "documentation"),
)
_MAPPED = _V6("::ffff:0:0/96")
_NAT64 = _V6("64:ff9b::/96")

# Characters of a legacy numeric IPv4 spelling (decimal, octal, hex parts), e.g. 0x7f.1 or 127.1.
_LEGACY_V4 = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$", re.I)


def literal_address(host: str) -> IPAddress | None:
    """The address an IP-literal host really means, or None for a host name.

    Accepts ``[v6]`` brackets and the legacy IPv4 forms the C library accepts (``127.1``,
    ``0x7f.0.0.1``, ``2130706433``, ``017700000001``).
    """
    text = host.strip().rstrip(".").strip("[]")
    if "%" in text:  # IPv6 zone id: the address part decides
        text = text.split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if _LEGACY_V4.match(text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None  # e.g. a part out of range: not an address, and unresolvable as a name
    return None


def embedded_v4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, NAT64 or 6to4 address leads to."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address in _MAPPED or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour  # 2002::/16, else None


def forbidden_reason(address: IPAddress) -> str | None:
    """Why connecting to ``address`` is refused by default, or None when it is public."""
    inner = embedded_v4(address)
    if inner is not None:
        reason = forbidden_reason(inner)
        return f"{reason} (embedded in {address})" if reason else None
    if isinstance(address, ipaddress.IPv4Address):
        for net4, reason in FORBIDDEN_V4:
            if address in net4:
                return reason
        return None
    if address not in GLOBAL_UNICAST_V6:
        return "not IPv6 global unicast (loopback, link-local, unique-local, multicast, reserved)"
    for net6, reason in FORBIDDEN_V6:
        if address in net6:
            return reason
    return None


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Resolve with the C library (getaddrinfo), as a socket connect would."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def _call_with_timeout(
    resolver: Resolver, host: str, port: int, timeout: float | None
) -> list[IPAddress]:
    """getaddrinfo cannot be interrupted; run it in a daemon thread so a slow DNS server cannot
    hold the caller past its deadline (the thread finishes on its own when the resolver gives up).
    """
    if timeout is None:
        return list(resolver(host, port))
    result: list[IPAddress] = []
    error: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            result.extend(resolver(host, port))
        except BaseException as exc:  # handed to the caller below
            error.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name=f"resolve {host}", daemon=True).start()
    if not done.wait(max(timeout, 0.0)):
        raise TimeoutError(f"resolving {host} took longer than {timeout:.1f}s")
    if error:
        raise error[0]
    return result


class NetGuard:
    """Decides which addresses may be contacted, given the networks explicitly allowed."""

    def __init__(
        self, allow_networks: Iterable[IPNetwork] = (), resolver: Resolver = system_resolver
    ) -> None:
        self.allow_networks: tuple[IPNetwork, ...] = tuple(allow_networks)
        self.resolver = resolver

    def allowed(self, address: IPAddress) -> bool:
        return any(address in net for net in self.allow_networks if net.version == address.version)

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` must not be contacted, or None when it may be."""
        inner = embedded_v4(address)
        if self.allowed(address) or (inner is not None and self.allowed(inner)):
            return None
        return forbidden_reason(address)

    def resolve(self, host: str, port: int, timeout: float | None = None) -> list[IPAddress]:
        """Every address ``host`` stands for, all checked. Raises FetchError on refusal.

        Reason ``blocked_address`` when any address is refused, ``connect`` when the name does not
        resolve, ``timeout`` when resolving takes longer than ``timeout`` seconds.
        """
        literal = literal_address(host)
        name = host.lower().rstrip(".")
        if literal is not None:
            addresses = [literal]
        elif name == "localhost" or name.endswith(".localhost"):
            # RFC 6761: loopback by definition, whatever DNS or /etc/hosts say (or fail to say).
            addresses = [ipaddress.IPv4Address("127.0.0.1")]
        else:
            try:
                addresses = _call_with_timeout(self.resolver, host, port, timeout)
            except TimeoutError as exc:
                raise FetchError(str(exc), "timeout") from None
            except (OSError, UnicodeError) as exc:
                raise FetchError(f"cannot resolve {host}: {exc}", "connect") from None
            if not addresses:
                raise FetchError(f"{host} resolves to no address", "connect")
        for address in addresses:
            reason = self.refusal(address)
            if reason:
                shown = host if str(address) == host else f"{host} ({address})"
                raise FetchError(
                    f"refusing to connect to {shown}: {reason} address"
                    " (allow it with allow_networks if this is intended)",
                    "blocked_address",
                )
        return addresses


class GuardedBackend(httpcore.NetworkBackend):
    """An httpcore backend that connects only to addresses the guard has just approved.

    ``trusted`` names (host, port) endpoints that are connected without checks: the configured
    proxy, which the operator chose and which is usually on a private network.
    """

    def __init__(
        self,
        guard: NetGuard,
        trusted: Iterable[tuple[str, int]] = (),
        inner: httpcore.NetworkBackend | None = None,
    ) -> None:
        self.guard = guard
        self.trusted = {(host.lower(), port) for host, port in trusted}
        self.inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if (host.lower(), port) in self.trusted:
            return self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        # ``timeout`` is the budget for resolving and all connection attempts together.
        end = None if timeout is None else time.monotonic() + timeout
        addresses = self.guard.resolve(host, port, timeout)
        last_error: Exception | None = None
        for address in addresses:
            remaining = None if end is None else end - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            try:
                # An IP literal: socket.create_connection does no DNS lookup for it.
                return self.inner.connect_tcp(
                    str(address), port, remaining, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        if last_error is not None:
            raise last_error
        raise httpcore.ConnectTimeout(f"no time left to connect to {host}")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not used by newswire")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)
