//! Measure `ImageStore::import` throughput: `import_bench <rootfs.tar[.gz]> [runs]`.
//! Each run imports into a fresh store under $TMPDIR (so every run unpacks and fsyncs).
//! With `BENCH_KEEP=<dir>`, one import goes into the store at `<dir>` and is kept (for diffing).

use std::fs::File;
use std::time::Instant;

use berth_image::{ImageStore, ImportOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("berth_image=info"))
        .init();
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: import_bench <tar> [runs]")?;
    let runs: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(3);
    let bytes = std::fs::metadata(&path)?.len() as f64;
    if let Ok(keep) = std::env::var("BENCH_KEEP") {
        let store = ImageStore::open(std::path::Path::new(&keep))?;
        let rec = store.import(File::open(&path)?, ImportOptions::default())?;
        println!("kept {} layer {}", rec.id, rec.layers[0]);
        return Ok(());
    }
    let mut times = Vec::new();
    for i in 0..runs {
        let dir = tempfile::tempdir()?;
        let store = ImageStore::open(&dir.path().join("image"))?;
        let t = Instant::now();
        let rec = store.import(File::open(&path)?, ImportOptions::default())?;
        let s = t.elapsed().as_secs_f64();
        println!(
            "run {i}: {:.3} s, {:.0} MB/s of input, image {} ({} MB unpacked)",
            s,
            bytes / 1e6 / s,
            &rec.id[..19],
            rec.size / 1_000_000
        );
        times.push(s);
    }
    if std::env::var("BENCH_SNAPSHOT").is_ok() {
        snapshot_bench(&path)?;
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let median = times[times.len() / 2];
    println!(
        "median {:.3} s = {:.0} MB/s ({:.1} MB input)",
        median,
        bytes / 1e6 / median,
        bytes / 1e6
    );
    Ok(())
}

/// prepare + mount + unmount + remove of a snapshot, the per-container cost on `run --rm`.
fn snapshot_bench(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = ImageStore::open(&dir.path().join("image"))?;
    let rec = store.import(File::open(path)?, ImportOptions::default())?;
    let target = dir.path().join("rootfs");
    let mut times = Vec::new();
    for i in 0..30 {
        let key = format!("c{i}");
        let t = Instant::now();
        store.prepare_snapshot(&key, &rec.id)?;
        let t1 = t.elapsed().as_secs_f64() * 1000.0;
        store.mount_snapshot(&key, &target)?;
        let t2 = t.elapsed().as_secs_f64() * 1000.0;
        ImageStore::unmount(&target)?;
        let t3 = t.elapsed().as_secs_f64() * 1000.0;
        store.remove_snapshot(&key)?;
        let t4 = t.elapsed().as_secs_f64() * 1000.0;
        if std::env::var("BENCH_VERBOSE").is_ok() {
            println!(
                "prepare {t1:.2} mount {:.2} unmount {:.2} remove {:.2}",
                t2 - t1,
                t3 - t2,
                t4 - t3
            );
        }
        times.push(t4);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "snapshot ({:?}) prepare+mount+unmount+remove: median {:.2} ms, min {:.2} ms",
        store.snapshotter_kind(),
        times[times.len() / 2],
        times[0]
    );
    Ok(())
}
