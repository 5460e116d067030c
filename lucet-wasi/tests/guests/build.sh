#!/usr/bin/env bash
# Rebuilds the compiled guest fixtures of lucet-wasi's tests from their sources.
# The tests use the committed .wasm files; this is only needed to change a guest.
#
# Needs Rust with the wasm32-wasip1 target (rustup target add wasm32-wasip1), and
# clang, wasm-ld and wasi-libc for C (Debian/Ubuntu: apt-get install clang lld
# wasi-libc libclang-rt-dev-wasm32; WASI_SYSROOT selects another sysroot).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target_dir="$here/../../../target/lucet-wasi-guests"

cargo build --quiet --release --target wasm32-wasip1 \
    --manifest-path "$here/fs-rust/Cargo.toml" --target-dir "$target_dir"
cp "$target_dir/wasm32-wasip1/release/fs-rust.wasm" "$here/fs-rust.wasm"

"${CLANG:-clang}" --target=wasm32-wasi --sysroot="${WASI_SYSROOT:-/usr}" -O2 -Wl,--strip-all \
    -o "$here/fs-c.wasm" "$here/fs-c/fs.c"
# The exception-handling guest is hand-written text (see its comment); needs
# wasm-tools (cargo install wasm-tools). tests/programs.rs checks that the committed
# binary matches the text.
wasm-tools parse "$here/exceptions/throw.wat" -o "$here/exceptions.wasm"
echo "built $here/fs-rust.wasm, $here/fs-c.wasm and $here/exceptions.wasm"
