"""M1: the futex implementation's uncontended operations make no futex system call.

ARCHITECTURE.md: "count waiters so an uncontended operation makes no system call".
A small C program (built here against libchanbench) does, on one thread, N rounds
of try_send / try_recv / send / recv / timed send and recv with a message or a
slot ready, plus try ops that fail (empty, full), on channels of capacity 1, 64
and unbounded. It runs under `strace -f -e trace=futex,write`; the loop is
bracketed by two write()s to /dev/null ("chanbench-fastpath-begin" / "-end") and
only futex calls between the markers count (creation and a warm-up round happen
before the first marker, so lazy initialisation is allowed).

While "futex" is not in the registry this reports n/a; once it is, it runs and
must pass. test_H3_fastpath_detector_sees_futex_calls proves the detector can
fail: a plug-in that wakes a futex on every send is caught.
"""
import os
import re
import shutil
import subprocess

import pytest

from capability import need
from chanlib import Caps
from plugin_build import compile_c

ROUNDS = 2000

PROGRAM = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "chanbench/chan.h"
#include "chanbench/chan_impl.h"

static int fd;
static void mark(const char *s)
{
	if (write(fd, s, strlen(s)) < 0)
		perror("write");
}

#define EXPECT(call, want)                                                                \
	do {                                                                                  \
		chan_status st_ = (call);                                                         \
		if (st_ != (want)) {                                                              \
			fprintf(stderr, "%s returned %s, expected %s\n", #call, chan_status_str(st_), \
			        chan_status_str(want));                                               \
			exit(2);                                                                      \
		}                                                                                 \
	} while (0)

static long round_on(chan_t *ch, uintptr_t k, int timed)
{
	uintptr_t v = 0;
	long ops = 0;
	EXPECT(chan_try_send(ch, k), CHAN_OK);
	EXPECT(chan_try_recv(ch, &v), CHAN_OK);
	EXPECT(chan_send(ch, k + 1), CHAN_OK);
	EXPECT(chan_recv(ch, &v), CHAN_OK);
	if (v != k + 1) {
		fprintf(stderr, "recv returned %lu, expected %lu\n", (unsigned long)v, (unsigned long)k + 1);
		exit(2);
	}
	EXPECT(chan_try_recv(ch, &v), CHAN_EMPTY);
	ops += 5;
	if (timed) {
		EXPECT(chan_send_timeout(ch, k, 1000000000), CHAN_OK);
		EXPECT(chan_recv_timeout(ch, &v, 1000000000), CHAN_OK);
		ops += 2;
	}
	if (chan_cap(ch) == 1) {
		EXPECT(chan_try_send(ch, k), CHAN_OK);
		EXPECT(chan_try_send(ch, k), CHAN_FULL);
		EXPECT(chan_recv(ch, &v), CHAN_OK);
		ops += 3;
	}
	return ops;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s IMPL ROUNDS [PLUGIN]\n", argv[0]);
		return 2;
	}
	const char *impl = argv[1];
	long rounds = atol(argv[2]);
	if (argc > 3) {
		char err[512];
		EXPECT(chan_plugin_load(argv[3], NULL, err, sizeof err), CHAN_OK);
	}
	int timed = (chan_impl_caps(impl) & CHAN_CAP_TIMED) != 0;
	fd = open("/dev/null", O_WRONLY);
	size_t caps[] = {1, 64, CHAN_UNBOUNDED};
	chan_t *ch[3];
	int n = 0;
	for (int i = 0; i < 3; i++) {
		uint64_t kind = caps[i] == CHAN_UNBOUNDED ? CHAN_CAP_UNBOUNDED : CHAN_CAP_BOUNDED;
		if (!(chan_impl_caps(impl) & kind))
			continue;
		EXPECT(chan_create(impl, caps[i], NULL, &ch[n]), CHAN_OK);
		round_on(ch[n], 1, timed); /* warm-up, outside the markers */
		n++;
	}
	long ops = 0;
	mark("chanbench-fastpath-begin");
	for (long r = 0; r < rounds; r++)
		for (int i = 0; i < n; i++)
			ops += round_on(ch[i], (uintptr_t)r * 2 + 10, timed);
	mark("chanbench-fastpath-end");
	for (int i = 0; i < n; i++)
		EXPECT(chan_destroy(ch[i]), CHAN_OK);
	printf("channels %d ops %ld\n", n, ops);
	return 0;
}
"""

NOISY_PLUGIN = r"""
/* noisy: the mutex implementation, plus a futex wake on every send */
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#define chan_mutex_ops noisy_base_ops
#include "impls/mutex.c"
static int word;
static chan_status noisy_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	return mutex_send(b, msg, dl);
}
const struct chan_ops *chanbench_plugin_entry(void)
{
	static struct chan_ops t;
	t = noisy_base_ops;
	t.name = "noisy-fastpath";
	t.send = noisy_send;
	return &t;
}
"""


def need_strace():
    san = os.environ.get("CHANBENCH_SANITIZER")
    if san:
        pytest.skip(f"not measured on a sanitizer build ({san}): its runtime makes system calls of its own")
    s = shutil.which("strace")
    if s is None:
        pytest.skip("strace is not installed: cannot count futex calls (apt-get install strace)")
    r = subprocess.run([s, "-f", "-e", "trace=futex", "-o", os.devnull, "true"], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"strace cannot trace here (ptrace not permitted?): {r.stderr.strip()}")
    return s


@pytest.fixture(scope="module")
def fastpath_program(tmp_path_factory):
    need_strace()  # skip before building anything
    d = tmp_path_factory.mktemp("fastpath")
    return compile_c(PROGRAM, d / "fastpath", shared=False, link_chanbench=True)


def futex_calls_in_loop(strace, program, impl, tmp_path, plugin=None):
    """(futex calls between the markers, the lines, program stdout)."""
    out = tmp_path / f"strace-{impl}.txt"
    cmd = [strace, "-f", "-e", "trace=futex,write", "-o", str(out), program, impl, str(ROUNDS)]
    if plugin:
        cmd.append(plugin)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}"
    inside, calls, seen = False, [], set()
    for line in out.read_text().splitlines():
        if "chanbench-fastpath-begin" in line:
            inside = True
            seen.add("begin")
        elif "chanbench-fastpath-end" in line:
            inside = False
            seen.add("end")
        elif inside and re.search(r"\bfutex\(", line):
            calls.append(line)
    assert seen == {"begin", "end"}, f"loop markers missing from the strace output ({seen}): is strace working?"
    return calls, r.stdout


@pytest.mark.prop("M1")
@pytest.mark.impl_only("futex")
def test_M1_uncontended_ops_make_no_futex_call(impl, lib, tmp_path, request):
    if impl not in lib.impls():
        pytest.skip(f"n/a: implementation '{impl}' is not registered (yet)")
    need(impl, Caps.BLOCKING)
    strace = need_strace()
    fastpath_program = request.getfixturevalue("fastpath_program")
    calls, stdout = futex_calls_in_loop(strace, fastpath_program, impl, tmp_path)
    m = re.search(r"channels (\d+) ops (\d+)", stdout)
    assert m and int(m.group(1)) >= 2, f"the program ran too little: {stdout!r}"
    assert not calls, (f"{len(calls)} futex calls in {m.group(2)} uncontended operations on '{impl}', e.g.\n"
                       + "\n".join(calls[:5]))


@pytest.mark.prop("H3")
@pytest.mark.harness
def test_H3_fastpath_detector_sees_futex_calls(lib, fastpath_program, tmp_path):
    """The M1 check can fail: a plug-in making a futex call per send is caught."""
    strace = need_strace()
    plugin = compile_c(NOISY_PLUGIN, tmp_path / "noisy.so")
    calls, stdout = futex_calls_in_loop(strace, fastpath_program, "noisy-fastpath", tmp_path, plugin=plugin)
    assert len(calls) >= ROUNDS, f"only {len(calls)} futex calls seen from a plug-in that makes one per send"
