//! What a person sees during a run: a progress bar on a terminal (files/s, sections, ETA,
//! RSS, threads), nothing but warnings otherwise. Warnings always go to stderr.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    sections: AtomicU64,
    last_refresh: Mutex<Instant>,
    quiet: bool,
}

impl Progress {
    /// A bar when stderr is a terminal and `enabled`; warnings are printed unless `quiet`.
    pub fn new(enabled: bool, quiet: bool) -> Progress {
        let bar = (enabled && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(4));
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files ({per_sec}, ETA {eta}) {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        Progress {
            bar,
            sections: AtomicU64::new(0),
            last_refresh: Mutex::new(Instant::now()),
            quiet,
        }
    }

    pub fn found_file(&self) {
        if let Some(bar) = &self.bar {
            bar.inc_length(1);
        }
    }

    pub fn file_done(&self, sections: u64) {
        let total = self.sections.fetch_add(sections, Ordering::Relaxed) + sections;
        let Some(bar) = &self.bar else { return };
        bar.inc(1);
        let mut last = self.last_refresh.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed() >= Duration::from_millis(250) {
            *last = Instant::now();
            let (rss, threads) = process_usage();
            bar.set_message(format!(
                "{total} sections, RSS {} MiB, {threads} threads",
                rss >> 20
            ));
        }
    }

    pub fn set_message(&self, msg: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(msg.to_string());
        }
    }

    /// A warning line that does not tear the bar.
    pub fn warn(&self, msg: &str) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(format!("warning: {msg}")),
            None => eprintln!("warning: {msg}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// (resident bytes, thread count) of this process, from /proc; zeros where there is none.
pub fn process_usage() -> (u64, u64) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (0, 0);
    };
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:") * 1024, field("Threads:"))
}
