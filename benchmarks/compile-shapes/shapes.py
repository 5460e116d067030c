#!/usr/bin/env python3
"""Modules whose shape once made compile time blow up, and a side-by-side timing.

    shapes.py generate OUT_DIR            writes one .wasm per shape
    shapes.py measure OUT_DIR LUCETC WASMTIME [--runs N]
                                          compiles each with both, prints medians

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
    start = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def measure(out_dir, lucetc, wasmtime, runs):
    print(f"{'shape':<18} {'lucetc s':>10} {'wasmtime s':>11} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in SHAPES:
            wasm = os.path.join(out_dir, f"{name}.wasm")
            ours = [timed([lucetc, wasm, "-o", os.path.join(tmp, "m.so")]) for _ in range(runs)]
            theirs = [timed([wasmtime, "compile", wasm, "-o", os.path.join(tmp, "m.cwasm")]) for _ in range(runs)]
            a, b = statistics.median(ours), statistics.median(theirs)
            print(f"{name:<18} {a:>10.2f} {b:>11.2f} {a / b:>6.2f}")


def main(argv):
    if len(argv) >= 2 and argv[0] == "generate":
        generate(argv[1])
    elif len(argv) >= 4 and argv[0] == "measure":
        runs = int(argv[argv.index("--runs") + 1]) if "--runs" in argv else 5
        measure(argv[1], argv[2], argv[3], runs)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
