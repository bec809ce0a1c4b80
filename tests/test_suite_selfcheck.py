"""The suite run as a plug-in author runs it, on plug-ins built here (H2, H3).

Each test builds a plug-in from impls/mutex.c under a new name (plus a defect,
for H3) and runs `python3 -m pytest tests --plugin X --impl NAME -k ...` in a
subprocess, then reads what that run printed and the matrix it wrote:

  H2  a working plug-in, named by $CHANBENCH_PLUGINS, passes and appears in the
      matrix (and only it, because of --impl);
  H3  a plug-in that crashes (SIGSEGV in send at capacity 3) under `-n 2` fails
      exactly the test that crashed, as "worker ... crashed", and the run goes
      on; a plug-in that hangs fails its tests with the name of the operation
      that hung (in the test body, and in a helper thread), and the run goes on.
"""
import json
import os
import re
import subprocess
import sys

import pytest

import chanlib
from plugin_build import compile_c

pytestmark = pytest.mark.harness

MUTANT = r"""
/* a copy of the mutex implementation registered as NAME, with DEFECT switched in */
#include <signal.h>
#include <unistd.h>
#define chan_mutex_ops selfcheck_base_ops
#include "impls/mutex.c"

static chan_status selfcheck_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
#ifdef CRASH_SEND_AT_CAP
	if (((struct mutex_chan *)b)->cap == CRASH_SEND_AT_CAP)
		raise(SIGSEGV);
#endif
	return mutex_send(b, msg, dl);
}

static chan_status selfcheck_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
#ifdef HANG_TRY_RECV_AT_CAP
	if (dl == CHAN_NOWAIT && ((struct mutex_chan *)b)->cap == HANG_TRY_RECV_AT_CAP)
		for (;;)
			sleep(1);
#endif
	return mutex_recv(b, msg, dl);
}

static chan_status selfcheck_close(struct chan_base *b)
{
#ifdef CLOSE_WAKES_NOBODY
	struct mutex_chan *c = (struct mutex_chan *)b;
	pthread_mutex_lock(&c->lock);
	chan_status st = c->closed ? CHAN_ALREADY_CLOSED : CHAN_OK;
	c->closed = true;
	pthread_mutex_unlock(&c->lock);
	return st;
#else
	return mutex_close(b);
#endif
}

const struct chan_ops *chanbench_plugin_entry(void)
{
	static struct chan_ops t;
	t = selfcheck_base_ops;
	t.name = NAME;
	t.description = "mutex, rebuilt as a plug-in by the suite's self-check";
	t.send = selfcheck_send;
	t.recv = selfcheck_recv;
	t.close = selfcheck_close;
	return &t;
}
"""


def build(tmp_path, name, *defects):
    return compile_c(MUTANT, tmp_path / f"{name}.so", defines=[f'NAME="{name}"', *defects])


def run_suite(tmp_path, args, env_extra=None, timeout=300, tests=("tests",)):
    """Run the suite (or the given node ids) in a subprocess: (returncode, output, matrix or None)."""
    out = tmp_path / "matrix"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "CHANBENCH_PLUGINS", "CHANBENCH_OP_TIMEOUT"))}
    env["CHANBENCH_BUILD"] = chanlib.build_dir()
    env.update(env_extra or {})
    cmd = [sys.executable, "-m", "pytest", *tests, "-p", "no:cacheprovider",
           "--matrix-out", str(out), "-q", "-rfE", *args]
    r = subprocess.run(cmd, cwd=chanlib.REPO, env=env, capture_output=True, text=True, timeout=timeout)
    text = r.stdout + r.stderr
    mpath = out / "matrix.json"
    matrix = json.loads(mpath.read_text()) if mpath.exists() else None
    return r.returncode, f"$ {' '.join(cmd)}\n{text}", matrix


@pytest.mark.prop("H2")
@pytest.mark.timeout(300)
def test_H2_suite_runs_a_plugin_named_in_the_environment(tmp_path):
    so = build(tmp_path, "selfcheck-good")
    rc, text, m = run_suite(tmp_path, ["--impl", "selfcheck-good", "-k", "Q6_capacity_is_exact or C5 or Q12 or C3"],
                            env_extra={"CHANBENCH_PLUGINS": so}, tests=["tests/test_queue.py", "tests/test_close.py"])
    assert rc == 0, text
    assert m is not None, "no matrix written\n" + text
    assert list(m["implementations"]) == ["selfcheck-good"], m["implementations"]
    assert m["implementations"]["selfcheck-good"] == {"Q6": "pass", "Q12": "pass", "C3": "pass", "C5": "pass"}
    assert "selfcheck-good" in text and "conformance matrix" in text


@pytest.mark.prop("H3")
@pytest.mark.timeout(300)
def test_H3_crashing_plugin_fails_its_test_under_xdist(tmp_path):
    so = build(tmp_path, "selfcheck-crashy", "CRASH_SEND_AT_CAP=3")
    name = "selfcheck-crashy"
    rc, text, m = run_suite(tmp_path, ["-n", "2", "--plugin", so, "--impl", name],
                            tests=[f"tests/test_queue.py::test_Q6_capacity_is_exact[{name}-cap={c}]" for c in (2, 3, 4)]
                            + [f"tests/test_close.py::test_C5_second_close_is_harmless[{name}-cap=4]"])
    assert rc == 1, text
    assert re.search(r"worker 'gw\d' crashed while running '.*test_Q6_capacity_is_exact\[selfcheck-crashy-cap=3\]'",
                     text), text
    assert re.search(r"\b1 failed, 3 passed", text), text
    assert m is not None, "no matrix written\n" + text
    cells = m["implementations"]["selfcheck-crashy"]
    assert cells == {"Q6": "FAIL", "C5": "pass"}, cells
    assert m["failures"]["selfcheck-crashy"]["Q6"] == [
        "tests/test_queue.py::test_Q6_capacity_is_exact[selfcheck-crashy-cap=3]"]


@pytest.mark.prop("H3")
@pytest.mark.timeout(300)
def test_H3_hanging_plugin_fails_with_the_operation_named(tmp_path):
    so = build(tmp_path, "selfcheck-hangy", "HANG_TRY_RECV_AT_CAP=5", "CLOSE_WAKES_NOBODY")
    name = "selfcheck-hangy"
    rc, text, m = run_suite(tmp_path, ["--plugin", so, "--impl", name, "--timeout", "5"],
                            env_extra={"CHANBENCH_OP_TIMEOUT": "3"},
                            tests=[f"tests/test_queue.py::test_Q6_capacity_is_exact[{name}-cap=5]",
                                   f"tests/test_close.py::test_C3_close_wakes_blocked_receivers[{name}-cap=1]",
                                   f"tests/test_close.py::test_C5_second_close_is_harmless[{name}-cap=4]"])
    assert rc == 1, text
    # the test body hung in a try_recv: the watchdog names it
    assert "try_recv on selfcheck-hangy cap=5 did not return within 3s (called in the test body)" in text, text
    # a helper thread hung in recv (close woke nobody): its join names it
    assert "recv on selfcheck-hangy cap=1 did not return within 3s" in text, text
    assert m is not None, "no matrix written\n" + text
    assert m["implementations"]["selfcheck-hangy"] == {"Q6": "FAIL", "C3": "FAIL", "C5": "pass"}
