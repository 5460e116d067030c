#!/usr/bin/env python3
"""Modules whose shape once made compile time blow up, and a side-by-side timing.

    shapes.py generate OUT_DIR            writes one .wasm per shape
    shapes.py measure OUT_DIR LUCETC WASMTIME [--runs N] [--markdown]
                                          compiles each with both, alternating, and
                                          prints medians (min-max) of wall time, the
                                          medians of CPU time and of peak memory

Shapes (see issue 13 in the tracker for why each matters):
  live_across_call  one function with 50,000 values live across one call
  blocks_1m         one function of 1,000,000 blocks
  nested_10k        10,000 nested blocks
  locals_100k       100,000 locals: two functions of 50,000, the most one function may have
  module_20mb       a module of about 20 MB of code

The binaries are written directly (no text format), so both compilers spend their time
on the code, not on parsing text. Timing is for comparison by hand and in
docs/benchmarks.md, never a test.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

I32 = 0x7F


def uleb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def sleb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if (n == 0 and not b & 0x40) or (n == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def vec(items):
    return uleb(len(items)) + b"".join(items)


def section(sid, payload):
    return bytes([sid]) + uleb(len(payload)) + payload


def module(bodies):
    """A module of functions of type (i32) -> i32; function 0 is the identity, the others
    are `bodies`: (locals, code) pairs. Every function is exported as f<index>."""
    functype = bytes([0x60]) + vec([bytes([I32])]) + vec([bytes([I32])])
    funcs = [([], b"\x20\x00")] + bodies
    code = []
    for locals_, body in funcs:
        decl = vec([uleb(n) + bytes([t]) for n, t in locals_])
        fn = decl + body + b"\x0b"
        code.append(uleb(len(fn)) + fn)
    exports = [uleb(len(f"f{i}")) + f"f{i}".encode() + b"\x00" + uleb(i) for i in range(len(funcs))]
    return (b"\x00asm\x01\x00\x00\x00"
            + section(1, vec([functype]))
            + section(3, vec([uleb(0)] * len(funcs)))
            + section(7, vec(exports))
            + section(10, vec(code)))


LOCAL_GET0 = b"\x20\x00"
I32_ADD = b"\x6a"


def live_across_call():
    n = 50_000
    body = bytearray()
    for k in range(n):
        body += LOCAL_GET0 + b"\x41" + sleb(k) + I32_ADD
    body += LOCAL_GET0 + b"\x10\x00"  # call 0
    body += I32_ADD * n
    return module([([], bytes(body))])


def blocks_1m():
    body = b"\x02\x40" + LOCAL_GET0 + b"\x0d\x00" + b"\x0b"
    return module([([], body * 1_000_000 + LOCAL_GET0)])


def nested_10k():
    n = 10_000
    body = b"\x02\x40" * n + LOCAL_GET0 + b"\x0d\x00" + b"\x0b" * n + LOCAL_GET0
    return module([([], body)])


def locals_100k():
    def one(n):
        body = bytearray()
        for i in range(1, n + 1):
            body += LOCAL_GET0 + b"\x41" + sleb(i) + I32_ADD + b"\x21" + uleb(i)
        body += b"\x20" + uleb(1)
        for i in range(2, n + 1):
            body += b"\x20" + uleb(i) + I32_ADD
        return ([(n, I32)], bytes(body))

    # The parameter takes one of each function's 50,000 locals.
    return module([one(49_999), one(49_999)])


def module_20mb():
    body = bytearray(LOCAL_GET0)
    for k in range(400):
        body += b"\x41" + sleb(k * 7919 + 1) + b"\x6c" + b"\x41" + sleb(k) + I32_ADD  # mul, add
    body = bytes(body)
    count = (20 * 1024 * 1024) // len(body)
    return module([([], body)] * count)


SHAPES = {
    "live_across_call": live_across_call,
    "blocks_1m": blocks_1m,
    "nested_10k": nested_10k,
    "locals_100k": locals_100k,
    "module_20mb": module_20mb,
}


def generate(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    for name, make in SHAPES.items():
        path = os.path.join(out_dir, f"{name}.wasm")
        with open(path, "wb") as f:
            f.write(make())
        print(f"{path}: {os.path.getsize(path)} bytes")


def timed(cmd):
    """Runs cmd; returns (wall seconds, CPU seconds of the child, peak RSS in MiB)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def summary(samples):
    """Median and (min, max) of each of wall, CPU and RSS."""
    cols = list(zip(*samples))
    return [(statistics.median(c), min(c), max(c)) for c in cols]


def measure(out_dir, lucetc, wasmtime, runs, markdown):
    """Compiles each shape with both, alternating (lucetc, wasmtime, lucetc, ...), so that
    the load of the machine falls on both alike."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in SHAPES:
            wasm = os.path.join(out_dir, f"{name}.wasm")
            ours, theirs = [], []
            for _ in range(runs):
                ours.append(timed([lucetc, wasm, "-o", os.path.join(tmp, "m.so")]))
                theirs.append(timed([wasmtime, "compile", wasm, "-o", os.path.join(tmp, "m.cwasm")]))
            rows.append((name, summary(ours), summary(theirs)))
            print_row(rows[-1], False)
    if markdown:
        print()
        print("| shape | lucetc wall | Wasmtime wall | ratio | lucetc CPU | Wasmtime CPU | CPU ratio "
              "| lucetc peak RSS | Wasmtime peak RSS | target ≤ 2× |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for row in rows:
            print_row(row, True)


def print_row(row, markdown):
    name, ours, theirs = row
    (aw, awl, awh), (ac, _, _), (am, _, _) = ours
    (bw, bwl, bwh), (bc, _, _), (bm, _, _) = theirs
    ratio = aw / bw
    if not markdown:
        print(f"{name:<18} lucetc {aw:7.2f} s ({awl:.2f}-{awh:.2f}) cpu {ac:7.2f} s {am:6.0f} MiB   "
              f"wasmtime {bw:7.2f} s ({bwl:.2f}-{bwh:.2f}) cpu {bc:7.2f} s {bm:6.0f} MiB   "
              f"ratio {ratio:.2f} cpu ratio {ac / bc:.2f}", flush=True)
        return
    verdict = "met" if ratio <= 2 else f"missed by {ratio / 2:.2f}×"
    print(f"| {name} | {aw:.2f} s ({awl:.2f}–{awh:.2f}) | {bw:.2f} s ({bwl:.2f}–{bwh:.2f}) | {ratio:.2f} "
          f"| {ac:.2f} s | {bc:.2f} s | {ac / bc:.2f} | {am:.0f} MiB | {bm:.0f} MiB | {verdict} |")


def main(argv):
    if len(argv) >= 2 and argv[0] == "generate":
        generate(argv[1])
    elif len(argv) >= 4 and argv[0] == "measure":
        runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else 5
        measure(argv[1], argv[2], argv[3], runs, "--markdown" in argv)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
