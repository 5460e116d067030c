#!/usr/bin/env python3
"""Compile time of two builds of lucetc-wasi on the same modules, side by side.

    two_lucetcs.py OLD NEW [--runs N] [--markdown] [--label-old A] [--label-new B] MODULE.wasm...

Each module is compiled with `OLD -o OUT MODULE` and `NEW -o OUT MODULE` alternately,
N times each (default 5), so that the load of the machine falls on both alike. Prints
per module the medians and min-max of wall time and the median CPU time (the child's
user + system), and the geometric mean of the ratios NEW / OLD. For comparison by hand
and in docs/benchmarks.md, never a test.
"""

import math
import os
import statistics
import subprocess
import sys
import tempfile

from shapes import summary, timed


def main(argv):
    args = list(argv)
    opts = {"--runs": "5", "--label-old": "old", "--label-new": "new"}
    for key in list(opts):
        if key in args:
            i = args.index(key)
            opts[key] = args[i + 1]
            del args[i:i + 2]
    markdown = "--markdown" in args
    args = [a for a in args if a != "--markdown"]
    if len(args) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    old, new, modules = args[0], args[1], args[2:]
    runs = int(opts["--runs"])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "m.so")
        for wasm in modules:
            a, b = [], []
            try:
                for _ in range(runs):
                    a.append(timed([old, "-o", out, wasm]))
                    b.append(timed([new, "-o", out, wasm]))
            except subprocess.CalledProcessError as e:
                # Named in the output, left out of the table and the means.
                print(f"{wasm}: {e.cmd[0]} failed with exit code {e.returncode}; skipped", flush=True)
                continue
            (aw, awl, awh), (ac, _, _), _ = summary(a)
            (bw, bwl, bwh), (bc, _, _), _ = summary(b)
            name = "/".join(os.path.normpath(wasm).split(os.sep)[-2:])
            rows.append((name, aw, awl, awh, ac, bw, bwl, bwh, bc))
            print(f"{name}: {opts['--label-old']} {aw:.3f} s ({awl:.3f}-{awh:.3f}) cpu {ac:.3f}  "
                  f"{opts['--label-new']} {bw:.3f} s ({bwl:.3f}-{bwh:.3f}) cpu {bc:.3f}  "
                  f"ratio {bw / aw:.2f} cpu ratio {bc / ac:.2f}", file=sys.stderr, flush=True)
    geo = lambda xs: math.exp(sum(math.log(x) for x in xs) / len(xs))
    wall_geo = geo([r[5] / r[1] for r in rows])
    cpu_geo = geo([r[8] / r[4] for r in rows])
    if markdown:
        lo, ln = opts["--label-old"], opts["--label-new"]
        print(f"| module | {lo} wall | {ln} wall | ratio | {lo} CPU | {ln} CPU | CPU ratio |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, aw, awl, awh, ac, bw, bwl, bwh, bc in rows:
            print(f"| {name} | {aw:.3f} s ({awl:.3f}–{awh:.3f}) | {bw:.3f} s ({bwl:.3f}–{bwh:.3f}) "
                  f"| {bw / aw:.2f} | {ac:.3f} s | {bc:.3f} s | {bc / ac:.2f} |")
        print(f"| **geometric mean of the ratios** | | | **{wall_geo:.2f}** | | | **{cpu_geo:.2f}** |")
    else:
        print(f"geometric mean of the ratios new / old: wall {wall_geo:.3f}, CPU {cpu_geo:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
