//! Links `berth-shim` as a non-PIE executable.
//!
//! Why: one shim runs per container, so its resident memory is multiplied by the container count.
//! In a PIE binary every pointer in `.data.rel.ro` (vtables, string tables) is patched at load time,
//! which turns ~300 KB of the binary into private dirty memory in every shim. Linked at a fixed
//! address those pages stay clean and shared with the page cache (and the shim can drop them).
fn main() {
    println!("cargo:rustc-link-arg-bin=berth-shim=-no-pie");
    println!("cargo:rerun-if-changed=build.rs");
}
