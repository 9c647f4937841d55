"""`Host` headers as a browser, a proxy or an attacker may send them (`make fuzz` runs it
longer): the check never raises, and what it lets through by default is localhost, the listen
name or an IP address, never a name a DNS-rebinding page could use."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.status.guard import HostCheck, host_name

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
PROFILE = settings(max_examples=EXAMPLES, deadline=None)

labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
names = st.lists(labels, min_size=1, max_size=4).map(".".join)
ports = st.one_of(st.just(""), st.integers(0, 65535).map(lambda p: f":{p}"))
headers = st.one_of(
    st.text(max_size=60),
    st.builds(lambda n, p: n + p, names, ports),
    st.builds(lambda ip, p: f"[{ip}]{p}", st.ip_addresses(v=6).map(str), ports),
    st.builds(lambda ip, p: f"{ip}{p}", st.ip_addresses(v=4).map(str), ports),
)


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@PROFILE
@given(headers)
def test_the_default_check_lets_through_only_localhost_the_listen_name_and_ips(header: str) -> None:
    check = HostCheck((), "0.0.0.0")  # noqa: S104 - listening everywhere: the worst case
    if check.allows(header) and header:
        assert host_name(header) in {"localhost", "0.0.0.0"} or is_ip(host_name(header)), header  # noqa: S104


@PROFILE
@given(names, ports, st.sampled_from([str.upper, str.lower, lambda s: s + "."]))
def test_a_listed_name_passes_however_it_is_written(
    name: str, port: str, case: Callable[[str], str]
) -> None:
    check = HostCheck([name], "127.0.0.1")
    assert check.allows(case(name) + port)
    if not is_ip(name) and name != "localhost":
        assert not check.allows("x" + name + port)
        assert not HostCheck((), "127.0.0.1").allows(name + port)
