//! `berth-shim`: the per-container supervisor. See docs/contracts.md and `berth_runtime::shim`.

fn main() {
    std::process::exit(berth_runtime::shim::main(std::env::args_os()));
}
