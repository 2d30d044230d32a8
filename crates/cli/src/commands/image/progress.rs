//! Pull and push progress: per-layer bars with bytes and a total bar on a terminal
//! (indicatif), docker's plain `id: status` lines otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Renders one pull or push.
pub struct Progress {
    bars: Option<Bars>,
    quiet: bool,
}

struct Bars {
    multi: MultiProgress,
    layers: HashMap<String, (ProgressBar, u64, u64)>,
    total: ProgressBar,
}

impl Progress {
    /// Bars when stderr is a terminal and not `quiet`; lines on stderr otherwise (none if quiet).
    pub fn new(quiet: bool) -> Progress {
        let bars = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            let total = multi.add(ProgressBar::new(0));
            total.set_style(
                ProgressStyle::with_template(
                    "{prefix:>12} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            total.set_prefix("total");
            Bars {
                multi,
                layers: HashMap::new(),
                total,
            }
        });
        Progress { bars, quiet }
    }

    /// One progress message (`id`, `status`, bytes `current`/`total` when downloading/pushing).
    pub fn update(
        &mut self,
        id: Option<&str>,
        status: &str,
        current: Option<u64>,
        total: Option<u64>,
    ) {
        if self.quiet {
            return;
        }
        let Some(bars) = self.bars.as_mut() else {
            // docker without a terminal skips the byte-by-byte lines
            if current.is_some()
                && (status == "Downloading" || status == "Pushing" || status == "Extracting")
            {
                return;
            }
            match id.filter(|i| !i.is_empty()) {
                Some(id) => eprintln!("{id}: {status}"),
                None => eprintln!("{status}"),
            }
            return;
        };
        let Some(id) = id.filter(|i| !i.is_empty() && i.len() == 12) else {
            let _ = bars.multi.println(status);
            return;
        };
        let entry = bars.layers.entry(id.to_string()).or_insert_with(|| {
            let pb = bars.multi.insert_before(&bars.total, ProgressBar::new(0));
            pb.set_style(
                ProgressStyle::with_template(
                    "{prefix:>12}: {msg:<18} [{bar:30}] {bytes}/{total_bytes}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            pb.set_prefix(id.to_string());
            (pb, 0, 0)
        });
        let (pb, done, size) = entry;
        pb.set_message(status.to_string());
        if let (Some(c), Some(t)) = (current, total) {
            if *size != t {
                bars.total.inc_length(t.saturating_sub(*size));
                *size = t;
                pb.set_length(t);
            }
            bars.total.inc(c.saturating_sub(*done));
            *done = c;
            pb.set_position(c);
        }
        if matches!(
            status,
            "Pull complete" | "Pushed" | "Already exists" | "Layer already exists"
        ) || status.starts_with("Mounted from")
        {
            if *size > 0 && *done < *size {
                bars.total.inc(*size - *done);
                *done = *size;
                pb.set_position(*size);
            }
            pb.finish_with_message(status.to_string());
        }
    }

    /// Clear the bars (the final lines stay printed).
    pub fn finish(&mut self) {
        if let Some(bars) = self.bars.take() {
            bars.total.finish();
        }
    }
}
