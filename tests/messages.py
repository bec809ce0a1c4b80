"""Message values for the tests: whole machine words, distinct, checkable.

A message is one uintptr_t; the tests use values spread over all 64 bits (a
channel that truncated, sign-extended or mixed up words would show it), plus the
edge values 0, 1, 2^63 and 2^64-1 (2^64-1 is reserved as a sentinel).
"""
from collections import Counter

from chanlib import WORD_MASK, Status

SENTINEL = WORD_MASK  # "stop": never produced by word()
EDGES = [0, 1, 2, 1 << 31, 1 << 32, (1 << 63) - 1, 1 << 63, WORD_MASK - 1]
_GOLDEN = 0x9E3779B97F4A7C15  # odd, so i -> i * _GOLDEN is a bijection mod 2^64


def word(i, stream=0):
    """The i-th value of a stream: distinct for distinct (i, stream) with i, stream < 2^32."""
    v = (((stream & 0xFFFFFFFF) << 32 | (i & 0xFFFFFFFF)) * _GOLDEN) & WORD_MASK
    return v if v != SENTINEL else 0  # (not reached for the ranges the tests use)


def unword(v):
    """(stream, i) of a value made by word()."""
    x = (v * pow(_GOLDEN, -1, 1 << 64)) & WORD_MASK
    return x >> 32, x & 0xFFFFFFFF


def words(n, stream=0):
    return [word(i, stream) for i in range(n)]


def sum64(*terms):
    """The sum of `terms` modulo 2^64: how the C drivers add checksums.

    Every checksum a driver reports (sum_sent, sum_received, sum_undelivered, ...)
    is a uint64_t that wrapped as it grew; adding two of them as Python integers
    gives 2^64 too much whenever the C addition would have wrapped (issue 14). Any
    identity between driver sums is compared with this, never with a bare `+`."""
    s = 0
    for t in terms:
        if not isinstance(t, int) or t < 0:
            raise ValueError(f"a checksum is a non-negative integer, not {t!r}")
        s += t
    return s & WORD_MASK


def sums_balance(lhs, rhs):
    """True when the sums in `lhs` add up to the sums in `rhs`, modulo 2^64
    (sums_balance([recv, undelivered], [sent]))."""
    return sum64(*lhs) == sum64(*rhs)


def checksum(values):
    """(count, sum mod 2^64, xor): cheap summary for messages."""
    s = x = 0
    for v in values:
        s = (s + v) & WORD_MASK
        x ^= v
    return len(values), s, x


def exactly_once(received, sent, what="message"):
    """Assert that `received` is `sent` as a multiset with no duplicates: say what differs."""
    rc = Counter(received)
    sc = Counter(sent)
    dups = [v for v, c in rc.items() if c > sc.get(v, 0) and v in sc]
    extra = [v for v in rc if v not in sc]
    lost = [v for v in sc if v not in rc]
    problems = []
    if lost:
        problems.append(f"{len(lost)} {what}s lost (e.g. {[hex(v) for v in lost[:5]]})")
    if dups:
        problems.append(f"{len(dups)} {what}s duplicated (e.g. {[hex(v) for v in dups[:5]]})")
    if extra:
        problems.append(f"{len(extra)} {what}s never sent (e.g. {[hex(v) for v in extra[:5]]})")
    assert not problems, "; ".join(problems) + f" (received {checksum(received)}, sent {checksum(sent)})"
    assert checksum(received) == checksum(sent)


# --- moving values through a channel without blocking --------------------------


def drain(ch):
    """try_recv until not OK: (values, final status)."""
    out = []
    while True:
        s, v = ch.try_recv()
        if s != Status.OK:
            return out, s
        out.append(v)


def fill(ch, n, stream=1):
    """try_send n fresh values (each must succeed: the caller knows there is room)."""
    vals = words(n, stream)
    for i, v in enumerate(vals):
        s = ch.try_send(v)
        assert s == Status.OK, f"try_send #{i} below capacity returned {s!r}"
    return vals
