"""The SSRF guard: forbidden addresses in every spelling, allow_networks opening exactly what it
lists, and redirects to forbidden hosts refused before a single packet reaches them."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.settings import Settings, load_settings
from config.sources import Source
from tasks.errors import FetchError
from tasks.fetch import Fetcher
from tasks.netguard import IPAddress, NetGuard, forbidden_reason, literal_address
from tests import hostile_servers as hs
from tests.fixture_site import FixtureSite, news_site

ip = ipaddress.ip_address

# Every way of writing "somewhere private" that a URL could carry.
FORBIDDEN_HOSTS = [
    "127.0.0.1",
    "2130706433",  # decimal
    "0x7f.1",  # hex, short form
    "0x7f000001",
    "127.1",  # short form
    "0177.0.0.1",  # octal part
    "017700000001",  # octal
    "[::ffff:127.0.0.1]",  # IPv4-mapped
    "[::ffff:7f00:1]",
    "[::ffff:a9fe:a9fe]",  # mapped 169.254.169.254
    "localhost",
    "localhost.",
    "LOCALHOST",
    "0.0.0.0",
    "0",
    "[::]",
    "[::1]",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # CGNAT
    "198.18.0.1",  # benchmarking
    "192.0.2.1",  # documentation
    "198.51.100.7",
    "203.0.113.9",
    "224.0.0.1",  # multicast
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "[fe80::1]",  # link-local
    "[fc00::1]",  # unique-local
    "[fd12:3456::1]",
    "[ff02::1]",  # multicast
    "[64:ff9b::7f00:1]",  # NAT64 of 127.0.0.1
    "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
    "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
    "[2002:c0a8:101::1]",  # 6to4 of 192.168.1.1
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",  # Teredo
    "[2001:db8::1]",  # documentation
    "[fec0::1]",  # site-local (deprecated)
]

PUBLIC = [
    "93.184.216.34",
    "8.8.8.8",
    "2606:2800:220:1:248:1893:25c8:1946",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.fixture
def closed(redis_url: str, key_prefix: str, tmp_path: Path) -> Settings:
    """Settings with no network allowed beyond the public internet."""
    return load_settings(
        redis_url=redis_url,
        key_prefix=key_prefix,
        data_dir=tmp_path / "var",
        sources=tmp_path / "s.yaml",
        fetch_deadline=3,
    )


def only(settings: Settings, networks: str) -> Settings:
    return settings.model_copy(update={"allow_networks": _nets(networks)})


def _nets(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n) for n in text.split(",")]


@pytest.mark.parametrize("host", FORBIDDEN_HOSTS)
def test_every_spelling_of_a_forbidden_address_is_refused(host: str) -> None:
    with pytest.raises(FetchError) as caught:
        NetGuard().resolve(host.strip("[]"), 80, timeout=5)
    assert caught.value.reason == "blocked_address"


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",
        "0x7f.1",
        "127.1",
        "017700000001",
        "[::ffff:127.0.0.1]",
        "localhost.",
        "LOCALHOST",
        "[::1]",
    ],
)
def test_fetcher_refuses_odd_spellings_without_connecting(closed: Settings, host: str) -> None:
    with Fetcher(closed) as fetcher, pytest.raises(FetchError) as caught:
        fetcher.get(f"http://{host}:9/")
    assert caught.value.reason == "blocked_address"
    assert not caught.value.transient


def test_legacy_ipv4_spellings_mean_what_the_c_library_means() -> None:
    for spelling in ("2130706433", "0x7f.1", "127.1", "017700000001", "0177.0.0.1", "0x7f000001"):
        assert literal_address(spelling) == ip("127.0.0.1"), spelling
    assert literal_address("[::ffff:127.0.0.1]") == ip("::ffff:127.0.0.1")
    assert literal_address("example.com") is None
    assert literal_address("1.2.3.4.5") is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert forbidden_reason(ip(address)) is None
    assert NetGuard().refusal(ip(address)) is None


def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    def resolver(host: str, port: int) -> list[IPAddress]:
        return {
            "intranet.example": [ip("10.0.0.5")],
            "mixed.example": [ip("93.184.216.34"), ip("192.168.0.10")],
            "news.example": [ip("93.184.216.34"), ip("2606:2800:220:1::1")],
        }[host]

    guard = NetGuard(resolver=resolver)
    for name in ("intranet.example", "mixed.example"):  # one bad address poisons the name
        with pytest.raises(FetchError) as caught:
            guard.resolve(name, 443)
        assert caught.value.reason == "blocked_address"
        assert name in caught.value.message
    assert guard.resolve("news.example", 443) == [ip("93.184.216.34"), ip("2606:2800:220:1::1")]


def test_unresolvable_name_is_a_connect_error() -> None:
    def resolver(host: str, port: int) -> list[IPAddress]:
        raise OSError("Name or service not known")

    with pytest.raises(FetchError) as caught:
        NetGuard(resolver=resolver).resolve("nowhere.invalid", 80)
    assert caught.value.reason == "connect"


def test_allow_networks_opens_exactly_the_listed_ranges() -> None:
    guard = NetGuard(_nets("127.0.0.0/8"))
    assert guard.refusal(ip("127.0.0.1")) is None
    assert guard.refusal(ip("127.9.9.9")) is None
    assert guard.refusal(ip("::ffff:127.0.0.1")) is None  # the same host, written as IPv6
    for other in ("::1", "10.0.0.1", "169.254.169.254", "192.168.1.1", "64:ff9b::a00:1"):
        assert guard.refusal(ip(other)) is not None, other
    narrow = NetGuard(_nets("127.0.0.1/32"))
    assert narrow.refusal(ip("127.0.0.1")) is None
    assert narrow.refusal(ip("127.0.0.2")) is not None


@pytest.fixture
def site() -> Iterator[FixtureSite]:
    with news_site(articles=2).serve() as served:
        yield served


def test_source_allow_networks_adds_to_settings_and_pooled_connections_do_not_leak(
    closed: Settings, site: FixtureSite
) -> None:
    url = site.base_url + "/en/news/1"
    allowed = Source(id="local", url=url, allow_networks=tuple(_nets("127.0.0.1/32")))
    with Fetcher(closed) as fetcher:
        assert fetcher.get(url, source=allowed).status == 200
        # Same URL, no source: the keep-alive connection opened for `local` must not be reused.
        with pytest.raises(FetchError) as caught:
            fetcher.get(url)
        assert caught.value.reason == "blocked_address"
        assert fetcher.get(url, source=allowed).status == 200


def test_the_checked_address_is_the_one_connected_to(closed: Settings, site: FixtureSite) -> None:
    # "news.test" does not exist in real DNS: the page only arrives if the fetcher connects to
    # the address the guard's resolver returned, and sends the name as Host.
    def resolver(host: str, port: int) -> list[IPAddress]:
        assert host == "news.test"
        return [ip("127.0.0.1")]

    url = site.base_url.replace("127.0.0.1", "news.test") + "/en/news/1"
    with Fetcher(only(closed, "127.0.0.1/32"), resolver=resolver) as fetcher:
        page = fetcher.get(url)
    assert page.status == 200 and page.final_url == url


def test_dns_rebinding_between_check_and_connect_is_caught(closed: Settings) -> None:
    # The first answer is public, every later one private: the connection is refused anyway,
    # because the backend checks the very address it connects to.
    answers = iter([[ip("93.184.216.34")]])

    def rebinding(host: str, port: int) -> list[IPAddress]:
        return next(answers, [ip("127.0.0.3")])

    with hs.HostileServer().serve("127.0.0.3") as victim:
        url = f"http://rebind.test:{victim.port}/"
        with Fetcher(closed, resolver=rebinding) as fetcher, pytest.raises(FetchError) as caught:
            fetcher.get(url, source=Source(id="s", url=url, ignore_robots=True))
        assert caught.value.reason == "blocked_address"
        assert victim.connections == 0


@pytest.mark.parametrize(
    "target", ["http://127.0.0.3:{port}/", "http://127.0.0.3:{port}/robots.txt"]
)
def test_redirect_from_allowed_to_forbidden_host_never_reaches_it(
    closed: Settings, target: str
) -> None:
    settings = only(closed, "127.0.0.1/32")  # 127.0.0.3 is reachable, but not allowed
    with hs.HostileServer().serve("127.0.0.3") as forbidden, hs.HostileServer().serve() as origin:
        url = origin.route("/go", hs.redirect(target.format(port=forbidden.port)))
        with Fetcher(settings) as fetcher, pytest.raises(FetchError) as caught:
            fetcher.get(url)
        assert caught.value.reason == "blocked_address"
        assert forbidden.connections == 0
        assert [r.path for r in origin.requests] == ["/robots.txt", "/go"]


def test_redirect_to_ipv6_loopback_is_refused_when_only_ipv4_loopback_is_allowed(
    closed: Settings,
) -> None:
    with hs.HostileServer().serve() as origin:
        url = origin.route("/six", hs.redirect("http://[::1]:1/"))
        with Fetcher(only(closed, "127.0.0.0/8")) as fetcher, pytest.raises(FetchError) as caught:
            fetcher.get(url)
    assert caught.value.reason == "blocked_address"
