//! Links `berth-init` statically against glibc, so that it runs in images without a libc
//! (busybox, scratch).
//!
//! Why this way: Rust's gnu target links glibc statically only with `-C
//! target-feature=+crt-static`, a flag cargo cannot set for one package of a workspace (and
//! the rest of the workspace must stay dynamic). Without it rustc asks for `-Wl,-Bdynamic
//! -lgcc_s -lc ...`. This script answers those dynamic library requests with linker scripts
//! (`libc.so` = `GROUP(/abs/libc.a ...)`) in a directory that only this binary's link searches
//! first, and asks for a static-pie executable. The result has no interpreter and no DT_NEEDED
//! entries (`file` says "static-pie linked"), exactly what `crt-static` produces.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The absolute path of a static archive the C compiler would link (`cc -print-file-name`).
fn archive(cc: &str, name: &str) -> Result<PathBuf, String> {
    let out = Command::new(cc)
        .arg(format!("-print-file-name={name}"))
        .output()
        .map_err(|e| format!("running {cc}: {e}"))?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    // cc echoes the bare name back when it does not find the file.
    if !out.status.success() || !path.is_absolute() || !path.exists() {
        return Err(format!(
            "{name} not found by {cc}: berth-init links glibc statically; install libc6-dev"
        ));
    }
    Ok(path)
}

fn write_script(dir: &Path, name: &str, body: String) -> Result<(), String> {
    let path = dir.join(name);
    std::fs::write(&path, body).map_err(|e| format!("writing {}: {e}", path.display()))
}

fn run() -> Result<(), String> {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| format!("OUT_DIR: {e}"))?);
    let dir = out_dir.join("static-libs");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let libc = archive(&cc, "libc.a")?;
    let gcc_eh = archive(&cc, "libgcc_eh.a")?;
    let gcc = archive(&cc, "libgcc.a")?;
    let (c, eh, g) = (libc.display(), gcc_eh.display(), gcc.display());
    // libc and libgcc need each other (the unwinder calls dl_iterate_phdr): one group.
    write_script(&dir, "libc.so", format!("GROUP({c} {eh} {g})\n"))?;
    write_script(&dir, "libgcc_s.so", format!("GROUP({eh} {g} {c})\n"))?;
    for lib in ["m", "rt", "util", "pthread", "dl"] {
        let path = archive(&cc, &format!("lib{lib}.a"))?;
        write_script(
            &dir,
            &format!("lib{lib}.so"),
            format!("INPUT({})\n", path.display()),
        )?;
    }
    // `-L` as a link argument of the binary only, so no other target sees these scripts.
    println!("cargo:rustc-link-arg-bins=-L{}", dir.display());
    println!("cargo:rustc-link-arg-bins=-static-pie");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        println!("cargo:warning={e}");
        std::process::exit(1);
    }
}
