//! What a person sees during a run: a progress bar on a terminal (files/s, sections, ETA,
//! RSS, threads), nothing but warnings otherwise. Warnings always go to stderr. The counters
//! are also readable as a [`Snapshot`], which is how `serve` reports a background run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A run's counters and its progress bar (none when quiet or not on a terminal); shared by
/// the run's threads.
pub struct Progress {
    bar: Option<ProgressBar>,
    files_found: AtomicU64,
    files_done: AtomicU64,
    sections: AtomicU64,
    message: Mutex<String>,
    started: Instant,
    last_refresh: Mutex<Instant>,
    quiet: bool,
    /// Most threads seen at a sample point (every 256 files, each phase change).
    max_threads: AtomicU64,
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
            files_found: AtomicU64::new(0),
            files_done: AtomicU64::new(0),
            sections: AtomicU64::new(0),
            message: Mutex::new(String::new()),
            started: Instant::now(),
            last_refresh: Mutex::new(Instant::now()),
            quiet,
            max_threads: AtomicU64::new(0),
        }
    }

    pub(crate) fn found_file(&self) {
        self.files_found.fetch_add(1, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.inc_length(1);
        }
    }

    pub(crate) fn file_done(&self, sections: u64) {
        if self
            .files_done
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(256)
        {
            self.sample();
        }
        let total = self.sections.fetch_add(sections, Ordering::Relaxed) + sections;
        let Some(bar) = &self.bar else { return };
        bar.inc(1);
        let mut last = self.last_refresh.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed() >= Duration::from_millis(250) {
            *last = Instant::now();
            let (rss, threads) = process_usage();
            let rate = total as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!(
                "{total} sections ({rate:.0}/s), RSS {} MiB, {threads} threads",
                rss >> 20
            ));
        }
    }

    /// The current phase; on the bar with RSS and threads.
    pub fn set_message(&self, msg: &str) {
        *self.message.lock().unwrap_or_else(|e| e.into_inner()) = msg.to_string();
        let (rss, threads) = self.sample();
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{msg}, RSS {} MiB, {threads} threads", rss >> 20));
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

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The counters of a run at one moment.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Snapshot {
    pub files_found: u64,
    pub files_done: u64,
    pub sections: u64,
    /// The current phase after the walk ("optimizing", "embedding: …").
    pub message: String,
}

impl Progress {
    /// Records the current thread count; the maximum goes into the run summary, which is how
    /// the tests check the thread budget.
    pub fn sample(&self) -> (u64, u64) {
        let (rss, threads) = process_usage();
        self.max_threads.fetch_max(threads, Ordering::Relaxed);
        (rss, threads)
    }

    pub(crate) fn max_threads(&self) -> u64 {
        self.max_threads.load(Ordering::Relaxed)
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            files_found: self.files_found.load(Ordering::Relaxed),
            files_done: self.files_done.load(Ordering::Relaxed),
            sections: self.sections.load(Ordering::Relaxed),
            message: self
                .message
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
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
