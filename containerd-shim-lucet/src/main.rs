//! `containerd-shim-lucet-v1`: the binary containerd starts for the runtime
//! `io.containerd.lucet.v1`.

use containerd_shim_lucet::LucetShim;
use containerd_shim_wasm::shim::Cli;

fn main() {
    LucetShim::run(None);
}
