#!/usr/bin/env bash
# End-to-end test of containerd-shim-lucet-v1: starts a private containerd, imports
# OCI images built here from the example guests, and runs real containers with
# `ctr run --runtime io.containerd.lucet.v1`. Needs root (namespaces, cgroups, mounts).
#
#     scripts/test-containerd.sh             build the shim in release and run the checks
#     scripts/test-containerd.sh --bench N   afterwards, time `ctr run` to first output,
#                                            lucet against runc, N runs each, interleaved
#
# It installs containerd, runc, protobuf-compiler and libseccomp-dev with apt when they
# are missing, and uses no network otherwise: the images are written by
# scripts/oci-image.py. containerd runs from a temporary config (CRI plugin off, its own
# root, state and socket) and is stopped by its PID when the script exits.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bench_runs=0
case "${1:-}" in
    "") ;;
    --bench) bench_runs="${2:?--bench takes a number of runs}" ;;
    *) echo "usage: $0 [--bench N]" >&2; exit 2 ;;
esac

if [ "$(id -u)" != 0 ]; then
    echo "error: containers need root; run this script as root (CI does)" >&2
    exit 2
fi

# --- Tools ------------------------------------------------------------------------------
missing=()
command -v containerd >/dev/null || missing+=(containerd)
command -v runc >/dev/null || missing+=(runc)
command -v protoc >/dev/null || missing+=(protobuf-compiler)
[ -e /usr/include/seccomp.h ] || missing+=(libseccomp-dev)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

target="${CARGO_TARGET_DIR:-$root/target}"
cargo build --release -p containerd-shim-lucet -p lucetc --bin containerd-shim-lucet-v1 --bin lucetc-wasi
# The shim's unit tests (its run path without containerd), sharing the release build.
cargo test --release -p containerd-shim-lucet

# --- A private containerd -----------------------------------------------------------------
tmp="$(mktemp -d /tmp/lucet-containerd.XXXXXX)"
sock="$tmp/containerd.sock"
containerd_pid=""
cleanup() {
    status=$?
    # Cleaning up is best effort: a command that finds nothing must not change the status.
    set +e
    if [ -n "$containerd_pid" ]; then
        # Containers left by a failed check go first, so that no shim outlives the test.
        for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s KILL "$id" >/dev/null 2>&1 || true; done
        sleep 0.5
        for id in $(ctr_ containers ls -q 2>/dev/null); do
            ctr_ tasks delete -f "$id" >/dev/null 2>&1 || true
            ctr_ containers delete "$id" >/dev/null 2>&1 || true
        done
        kill "$containerd_pid" 2>/dev/null || true
        wait "$containerd_pid" 2>/dev/null || true
    fi
    # Whatever containerd left mounted under its root (snapshots) must go before the files.
    grep -o " $tmp[^ ]*" /proc/self/mountinfo 2>/dev/null | sort -r | while read -r m; do umount -l "$m"; done
    if [ $status -ne 0 ] && [ -f "$tmp/containerd.log" ]; then
        echo "--- last lines of containerd's log ---" >&2
        tail -n 30 "$tmp/containerd.log" >&2
    fi
    rm -rf "$tmp"
    exit $status
}
trap cleanup EXIT

mkdir -p "$tmp/bin" "$tmp/images" "$tmp/work"
cp "$target/release/containerd-shim-lucet-v1" "$tmp/bin/"
cat >"$tmp/config.toml" <<TOML
version = 2
root = "$tmp/root"
state = "$tmp/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = "$tmp/debug.sock"
[metrics]
  address = ""
TOML
PATH="$tmp/bin:$PATH" containerd --config "$tmp/config.toml" >"$tmp/containerd.log" 2>&1 &
containerd_pid=$!

ctr_() { ctr --address "$sock" "$@"; }
for _ in $(seq 100); do
    ctr_ version >/dev/null 2>&1 && break
    kill -0 "$containerd_pid" 2>/dev/null || { echo "error: containerd exited" >&2; exit 1; }
    sleep 0.1
done
ctr_ version >/dev/null

# --- Images -----------------------------------------------------------------------------
image() { # NAME PLATFORM FILE...
    local name="$1" platform="$2"
    shift 2
    local args=()
    for f in "$@"; do args+=(--file "$f"); done
    python3 scripts/oci-image.py --name "docker.io/lucet-test/$name:latest" --platform "$platform" "${args[@]}" \
        -o "$tmp/images/$name.tar"
    ctr_ images import --platform "$platform" "$tmp/images/$name.tar" >/dev/null
}

w="$tmp/work"
cli=lucet-wasi/tests/guests/cli.wat
echo "shipped in the image" >"$w/data.txt"
echo "just some notes" >"$w/notes.txt"
echo '(module (memory 2048) (func (export "_start")))' >"$w/big.wat"
"$target/release/lucetc-wasi" -o "$w/app.so" "$cli"

image hello-rust wasip1/wasm examples/hello-rust/hello-rust.wasm:/app.wasm
image hello-c wasip1/wasm examples/hello-c/hello-c.wasm:/app.wasm
image echo wasip1/wasm containerd-shim-lucet/guests/echo.wat:/app.wat
image cli wasip1/wasm "$cli:/app.wat" "$w/data.txt:/data.txt" "$w/notes.txt:/notes.txt" "$w/big.wat:/big.wat"
image precompiled wasip1/wasm "$w/app.so:/app.so"
signed=false
if command -v minisign >/dev/null; then
    minisign -G -W -p "$w/key.pub" -s "$w/key.sec" >/dev/null
    "$target/release/lucetc-wasi" --sign-key "$w/key.sec" -o "$w/signed.so" "$cli"
    image signed wasip1/wasm "$w/signed.so:/app.so" "$w/signed.so.minisig:/app.so.minisig" "$w/app.so:/unsigned.so"
    signed=true
fi

# --- Checks -----------------------------------------------------------------------------
failures=0
n=0
# run IMAGE [ctr run options...] -- COMMAND...: runs one container; sets $out, $err, $code.
run() {
    local img="$1"
    shift
    local opts=()
    while [ "$1" != "--" ]; do opts+=("$1"); shift; done
    shift
    n=$((n + 1))
    code=0
    ctr_ run --rm --runtime io.containerd.lucet.v1 "${opts[@]}" "docker.io/lucet-test/$img:latest" \
        "lucet-test-$n" "$@" >"$w/out" 2>"$w/err" </dev/null || code=$?
    out="$(cat "$w/out")"
    err="$(cat "$w/err")"
}
check() { # NAME CONDITION...
    local name="$1"
    shift
    if "$@"; then
        echo "ok: $name"
        [ -z "${VERBOSE:-}" ] || printf '  exit %s\n  stdout: %s\n  stderr: %s\n' "$code" "$out" "$err"
    else
        echo "FAILED: $name (exit $code)"
        echo "  stdout: $out"
        echo "  stderr: $err"
        failures=$((failures + 1))
    fi
}
has() { [[ "$1" == *"$2"* ]]; }

run hello-rust -- /app.wasm
check "hello world" test "$code/$out" = "0/Hello, world!"

run echo --env GREETING=hi --env LUCET_DEADLINE=60s -- /app.wat one "two words"
check "args and env" eval 'test $code = 0 && has "$out" "/app.wat
one
two words" && has "$out" "GREETING=hi" && ! has "$out" LUCET_DEADLINE'

run cli -- "/app.wat#read_file"
check "a file shipped in the image" test "$code/$out" = "0//
shipped in the image"

run hello-c -- /app.wasm
check "proc_exit code" test "$code/$out" = "3/Hello, world from C!"

run cli -- "/app.wat#trap"
check "a trapping guest" eval 'test $code = 125 && has "$err" unreachable && has "$err" "in function"'

start=$(date +%s)
run cli --env LUCET_DEADLINE=1s -- "/app.wat#spin"
check "a guest stopped by its deadline" eval 'test $code = 124 && has "$err" LUCET_DEADLINE && [ $(($(date +%s) - start)) -lt 30 ]'

run precompiled -- /app.so
check "a precompiled .so image" test "$code/$out" = "0/hello"

if $signed; then
    key="$(tail -n 1 "$w/key.pub")"
    run signed --env "LUCET_VERIFY_KEY=$key" -- /app.so
    check "a signed .so verified" test "$code/$out" = "0/hello"
    run signed --env "LUCET_VERIFY_KEY=$key" -- /unsigned.so
    check "an unsigned .so refused" eval 'test $code != 0 && has "$err" minisig'
else
    echo "skipped: signed images (minisign is not installed)"
fi

run cli -- /notes.txt
check "a file that is not a module" eval 'test $code != 0 && has "$err" "neither a WebAssembly module"'

run cli -- /missing.wasm
check "a missing entrypoint" eval 'test $code != 0 && has "$err" "does not exist"'

# ctr's default spec does not mount the cgroup filesystem, where the shim reads the
# limit; Kubernetes' does.
run cli --memory-limit 100663296 --mount type=cgroup,src=cgroup,dst=/sys/fs/cgroup,options=ro:nosuid:noexec:nodev \
    -- /big.wat
check "a memory limit below the module's minimum" eval 'test $code != 0 && has "$err" "memory limit"'

# Twenty containers one after another; afterwards no task, container, shim or mount of
# this containerd may remain.
ok=0
for i in $(seq 20); do
    run hello-rust -- /app.wasm
    [ "$code/$out" = "0/Hello, world!" ] && ok=$((ok + 1))
done
sleep 1
leftover_tasks="$(ctr_ tasks ls -q | wc -l)"
leftover_containers="$(ctr_ containers ls -q | wc -l)"
leftover_shims="$(pgrep -f "containerd-shim-lucet-v1 .*$sock" | wc -l || true)"
leftover_mounts="$(grep -c "$tmp/" /proc/self/mountinfo || true)"
check "20 containers in a row, nothing left behind" eval \
    'test "$ok/$leftover_tasks/$leftover_containers/$leftover_shims/$leftover_mounts" = "20/0/0/0/0"'

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all containerd checks passed"

[ "$bench_runs" -gt 0 ] || exit 0
. scripts/bench-containerd.sh
