"""Building small C programs and plug-ins inside tests, with the system C compiler.

compile_c(source, out, shared=True) writes `source` next to `out` and runs
`cc -shared -fPIC` (or a program, linked against libchanbench) with
<repo>/include on the include path; a compiler error fails the test with the
compiler's output.
"""
import os
import shutil
import subprocess

import pytest

import chanlib

INCLUDE = os.path.join(chanlib.REPO, "include")


def compiler():
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.fail("no C compiler (cc) on PATH: the plug-in fixtures cannot be built")
    return cc


def compile_c(source, out, shared=True, defines=(), link_chanbench=False):
    out = str(out)
    src = os.path.splitext(out)[0] + ".c"
    with open(src, "w") as f:
        f.write(source)
    cmd = [compiler(), "-std=c11", "-D_GNU_SOURCE", "-O1", "-Wall", "-I", INCLUDE, "-I", chanlib.REPO]
    cmd += [f"-D{d}" for d in defines]
    if shared:
        cmd += ["-shared", "-fPIC"]
    cmd += ["-o", out, src]
    if link_chanbench:
        bd = chanlib.build_dir()
        cmd += ["-L", bd, f"-Wl,-rpath,{bd}", "-lchanbench"]
    cmd += ["-lpthread"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.fail(f"compiling {src} failed:\n{' '.join(cmd)}\n{r.stderr}")
    return out
