# Sourced by scripts/test-containerd.sh --bench N, with its containerd running: the
# time from starting `ctr run` to the first byte of the guest's output, for
#   - lucet, a .wasm compiled as the container starts (examples/hello-rust),
#   - lucet, the same program precompiled to a .so in the image,
#   - runc, a static C hello binary (gcc -static) in a linux/amd64 image,
# each run N times, interleaved, in the same containerd. Medians and spread in ms.

cat >"$w/hello.c" <<'C'
#include <unistd.h>
int main(void) {
    static const char msg[] = "Hello, world!\n";
    return write(1, msg, sizeof msg - 1) == sizeof msg - 1 ? 0 : 1;
}
C
gcc -static -O2 -o "$w/hello-static" "$w/hello.c"
image static-hello linux/amd64 "$w/hello-static:/hello:0755"
"$target/release/lucetc-wasi" -o "$w/hello-rust.so" examples/hello-rust/hello-rust.wasm
image hello-rust-so wasip1/wasm "$w/hello-rust.so:/app.so"

python3 - "$bench_runs" "$sock" <<'PY'
import statistics, subprocess, sys, time

runs, sock = int(sys.argv[1]), sys.argv[2]
kinds = [
    ("lucet, .wasm compiled at start", "io.containerd.lucet.v1", "hello-rust", "/app.wasm"),
    ("lucet, precompiled .so", "io.containerd.lucet.v1", "hello-rust-so", "/app.so"),
    ("runc, static C binary", "io.containerd.runc.v2", "static-hello", "/hello"),
]
times = {k[0]: [] for k in kinds}
n = 0
for _ in range(runs):
    for name, runtime, img, cmd in kinds:
        n += 1
        argv = ["ctr", "--address", sock, "run", "--rm", "--runtime", runtime,
                f"docker.io/lucet-test/{img}:latest", f"bench-{n}", cmd]
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, bufsize=0, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = p.stdout.read(1)
        t1 = time.perf_counter()
        rest, err = p.communicate()
        if p.returncode != 0 or (first + rest) != b"Hello, world!\n":
            sys.exit(f"{name}: exit {p.returncode}, stdout {first + rest!r}, stderr {err!r}")
        times[name].append((t1 - t0) * 1000)
print(f"time from `ctr run` to first output, {runs} runs each, interleaved (ms)")
print(f"{'':34} {'median':>8} {'q1':>8} {'q3':>8} {'min':>8} {'max':>8}")
for name, ts in times.items():
    q1, _, q3 = statistics.quantiles(ts, n=4)
    print(f"{name:34} {statistics.median(ts):8.1f} {q1:8.1f} {q3:8.1f} {min(ts):8.1f} {max(ts):8.1f}")
PY
