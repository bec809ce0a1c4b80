"""Capabilities: a test that needs one the implementation does not declare is n/a.

need(impl, Caps.MPMC) skips the running test with the reason
"n/a: capability mpmc not declared"; the conformance matrix counts such skips as
n/a (never as a pass, never silently dropped).
"""
import pytest

import chanlib
from chanlib import Caps, cap_label


def caps_of(impl):
    return chanlib.shared_lib().caps(impl)


def need(impl, *caps):
    """Skip as n/a unless `impl` declares every capability in caps."""
    have = caps_of(impl)
    for c in caps:
        if not (have & c):
            pytest.skip(f"n/a: capability {Caps(c).name.lower()} not declared")


def has(impl, cap):
    return bool(caps_of(impl) & cap)


def cap_id(cap):
    """Parameter id for a capacity: cap=0, cap=64, cap=unbounded."""
    return f"cap={cap_label(cap)}"
