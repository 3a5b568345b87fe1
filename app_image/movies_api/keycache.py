"""The in-process cache of API key lookups, and the bound it puts on revocation.

A key (or a token, through the key it was minted from) is looked up at most once per
`ttl` seconds per worker process, so revoking a key (`UPDATE api_keys SET revoked_at =
now()`) or demoting its user (`UPDATE users SET role = 'reader'`) takes effect within
`ttl` seconds plus the replica's replay lag, for the key and every token minted from it.

Unknown keys are remembered for `negative_ttl` (shorter: a key created a moment ago may not
have reached the replica yet) in a separate, bounded table, so a flood of random keys can
neither grow memory nor push the valid keys out.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

V = TypeVar("V")

KEY_CACHE_SECONDS = 60.0
UNKNOWN_KEY_CACHE_SECONDS = 10.0
MAX_ENTRIES = 10_000


@dataclass
class _Table(Generic[V]):
    """Least recently inserted first out: a bounded dict of (value, expiry)."""

    limit: int
    entries: OrderedDict[Hashable, tuple[V, float]] = field(default_factory=OrderedDict)

    def get(self, key: Hashable, now: float) -> tuple[bool, V | None]:
        hit = self.entries.get(key)
        if hit is None:
            return False, None
        if hit[1] <= now:
            del self.entries[key]
            return False, None
        return True, hit[0]

    def put(self, key: Hashable, value: V, expiry: float) -> None:
        self.entries.pop(key, None)
        self.entries[key] = (value, expiry)
        while len(self.entries) > self.limit:
            self.entries.popitem(last=False)


@dataclass
class KeyCache(Generic[V]):
    """Found records for `ttl`, unknown ones (None) for `negative_ttl`, each table bounded."""

    ttl: float = KEY_CACHE_SECONDS
    negative_ttl: float = UNKNOWN_KEY_CACHE_SECONDS
    limit: int = MAX_ENTRIES
    clock: Callable[[], float] = time.monotonic
    _found: _Table[V] = field(init=False)
    _unknown: _Table[None] = field(init=False)

    def __post_init__(self) -> None:
        self._found = _Table(self.limit)
        self._unknown = _Table(self.limit)

    def get(self, key: Hashable, *, found_too: bool = True) -> tuple[bool, V | None]:
        """(True, record or None) when cached; `found_too=False` consults only unknowns."""
        now = self.clock()
        hit, _ = self._unknown.get(key, now)
        if hit:
            return True, None
        if not found_too:
            return False, None
        return self._found.get(key, now)

    def put(self, key: Hashable, record: V | None) -> None:
        now = self.clock()
        if record is None:
            self._found.entries.pop(key, None)
            self._unknown.put(key, None, now + self.negative_ttl)
        else:
            self._unknown.entries.pop(key, None)
            self._found.put(key, record, now + self.ttl)

    def __len__(self) -> int:
        return len(self._found.entries) + len(self._unknown.entries)
