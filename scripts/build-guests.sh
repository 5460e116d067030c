#!/usr/bin/env bash
# Rebuilds every checked-in guest `.wasm` fixture from its source.
#
# The tests never run this: they use the committed `.wasm` files, so the guest
# toolchains are only needed to change a guest. Run it from anywhere:
#
#     scripts/build-guests.sh           rebuild the fixtures in place
#     scripts/build-guests.sh --check   rebuild into a scratch directory and report
#                                       fixtures that differ from their sources
#                                       (exit status 1); the same toolchain
#                                       versions give the same bytes
#
# Toolchains it needs:
#   - Rust with the wasm32-wasip1 target:   rustup target add wasm32-wasip1
#   - clang, wasm-ld and wasi-libc for C. On Debian/Ubuntu:
#       apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32
#     (the compiler-rt package name follows the clang version). The C guests are
#     compiled with `clang --target=wasm32-wasi --sysroot=/usr`, where Debian's
#     wasi-libc lives; set WASI_SYSROOT to use another sysroot (e.g. a wasi-sdk).
#
# Outputs (each next to its source):
#   examples/hello-rust/hello-rust.wasm           Rust command, println!, exports add
#   examples/hello-c/hello-c.wasm                 C command, printf, exits with 3
#   examples/calculator/plugins/add-rust/add.wasm Rust plugin (calc = a + b)
#   examples/calculator/plugins/mul-c/mul.wasm    C plugin (calc = a * b)
#   examples/c-host/guest.wasm                    C command for the C host example
#   tests/out-of-tree-host/guests/rust/lucet-style-guest.wasm
#   tests/out-of-tree-host/guests/c/lucet-style-guest.wasm
#                                                 Rust and C guests of the Lucet-style host
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
check=false
case "${1:-}" in
    "") ;;
    --check) check=true ;;
    *)
        echo "usage: $0 [--check]" >&2
        exit 2
        ;;
esac
# Where the fixtures go: the repository itself, or a mirror of it to compare.
out_root="$root"
if $check; then
    out_root="$(mktemp -d)"
    trap 'rm -rf "$out_root"' EXIT
fi
# Guest builds get their own target directory so they never contend with, or
# invalidate, the host workspace's build.
target_dir="${root}/target/guests"
sysroot="${WASI_SYSROOT:-/usr}"
clang="${CLANG:-clang}"

need() {
    command -v "$1" >/dev/null 2>&1 || {
        echo "error: '$1' not found; $2" >&2
        exit 1
    }
}
need cargo "install Rust from https://rustup.rs"
need "$clang" "install clang, lld and wasi-libc (see the header of this script)"
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx wasm32-wasip1; then
    echo "error: the Rust target wasm32-wasip1 is not installed; run: rustup target add wasm32-wasip1" >&2
    exit 1
fi

# Keeps absolute build paths out of the fixtures, so a rebuild on another
# machine produces the same bytes.
remap="--remap-path-prefix=${root}=. --remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=cargo"

# Paths below are relative to the repository root.
rust_guest() { # <crate dir> <artifact name> <output> [extra rustc args...]
    local dir="$1" artifact="$2" out="$3"
    shift 3
    echo "building $out"
    (cd "${root}/${dir}" && CARGO_TARGET_DIR="$target_dir" RUSTFLAGS="$remap" \
        cargo rustc --quiet --release --target wasm32-wasip1 -- "$@")
    mkdir -p "$(dirname "${out_root}/${out}")"
    cp "${target_dir}/wasm32-wasip1/release/${artifact}.wasm" "${out_root}/${out}"
}

c_guest() { # <output> <source> [extra clang args...]
    local out="$1" src="$2"
    shift 2
    echo "building $out"
    mkdir -p "$(dirname "${out_root}/${out}")"
    "$clang" --target=wasm32-wasi --sysroot="$sysroot" -O2 -ffile-prefix-map="${root}=." "$@" \
        "${root}/${src}" -o "${out_root}/${out}"
}

# A command module exports only `_start` unless told otherwise; `add` is
# exported for the host that calls into the instance after `_start`.
rust_guest examples/hello-rust hello-rust examples/hello-rust/hello-rust.wasm \
    -C link-arg=--export=add

c_guest examples/hello-c/hello-c.wasm examples/hello-c/hello.c

rust_guest examples/calculator/plugins/add-rust calc_plugin_add examples/calculator/plugins/add-rust/add.wasm

# A reactor: no `main`, the host calls the exports (after `_initialize`).
c_guest examples/calculator/plugins/mul-c/mul.wasm examples/calculator/plugins/mul-c/mul.c -mexec-model=reactor

# Imports `host.log` and `host.scale`, which the C host defines with a linker.
c_guest examples/c-host/guest.wasm examples/c-host/guest.c

rust_guest tests/out-of-tree-host/guests/rust lucet_style_guest tests/out-of-tree-host/guests/rust/lucet-style-guest.wasm
c_guest tests/out-of-tree-host/guests/c/lucet-style-guest.wasm tests/out-of-tree-host/guests/c/guest.c -mexec-model=reactor

if $check; then
    stale=0
    for f in $(cd "$out_root" && find . -name '*.wasm' | sort); do
        f="${f#./}"
        if ! cmp -s "${out_root}/${f}" "${root}/${f}"; then
            echo "differs from its source: $f" >&2
            stale=1
        fi
    done
    if [ "$stale" = 1 ]; then
        echo "run scripts/build-guests.sh to update the fixtures (or check the toolchain versions)" >&2
        exit 1
    fi
    echo "all fixtures match their sources"
else
    echo "done"
fi
