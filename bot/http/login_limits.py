"""Who is logging in, and how often they may try: the client's address and the moderator login limiter.

Two buckets, because one per name lets any guesser lock a moderator out (the right password included)
and one per address makes everyone behind a reverse proxy share a bucket:

- per address and name, `login_attempts_per_minute`: a guesser at one address is stopped quickly, and
  once stopped even the right password from that address waits, so the limit is no oracle;
- per name, `login_name_attempts_per_hour` wrong passwords from all addresses together. When it runs
  out, addresses that have been failing for that name are refused outright, and a new address gets its
  password checked: the moderator logging in from elsewhere gets in, a wrong guess is refused.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from bot.http.ratelimit import RateLimiter

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(peer: str, forwarded_for: str | None, trusted_proxies: Sequence[Network]) -> str:
    """The client's address: the socket peer, or, when the peer is a trusted proxy, the nearest address in
    X-Forwarded-For that is not one (entries to its left were written by the client and prove nothing).
    Anything unparsable there (undecodable bytes included) stops the walk at the proxy itself."""
    address = peer
    hops = (forwarded_for or "").split(",")
    while _trusted(address, trusted_proxies) and hops:
        hop = hops.pop().strip()
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:
            break
    return address


def _trusted(address: str, trusted_proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted_proxies)


class LoginLimiter:
    """Decides whether a login attempt may check its password, and records the attempts that failed."""

    def __init__(self, per_pair_per_minute: float, per_name_per_hour: float) -> None:
        self.pair_rate = per_pair_per_minute
        self.name_rate = per_name_per_hour / 60.0
        self.pairs = RateLimiter(max(1, int(per_pair_per_minute)))
        self.names = RateLimiter(max(1, int(per_name_per_hour)))

    def refusal(self, address: str, name: str) -> int | None:
        """Seconds to wait before this attempt may be checked, or None to check it."""
        pair = (address, name)
        wait = self.pairs.wait(pair, self.pair_rate)
        if wait is None and self.pairs.used(pair, self.pair_rate):
            wait = self.names.wait(name, self.name_rate)  # this address has been failing: the name's limit applies
        return wait

    def failed(self, address: str, name: str) -> int | None:
        """Record a wrong password; returns the wait when it used up either limit (the answer is then 429)."""
        pair_wait = self.pairs.take((address, name), self.pair_rate)
        name_wait = self.names.take(name, self.name_rate)
        return pair_wait or name_wait

    def succeeded(self, address: str, name: str) -> None:
        self.pairs.reset((address, name))
