//! Progress of the long-running commands (`datagen`, `batch-loader`, `publisher`): a bar
//! (indicatif) when stderr is a terminal, and otherwise a plain log line every
//! [`PLAIN_EVERY`], so a file or a CI log gets a readable record instead of control codes.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Period of the plain progress lines when stderr is not a terminal.
pub(crate) const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A bar redrawn in place (stderr is a terminal).
    Bar,
    /// A log line now and then.
    Plain,
}

impl Mode {
    /// A bar on a terminal, plain lines otherwise.
    pub(crate) fn for_stderr() -> Mode {
        Mode::pick(std::io::stderr().is_terminal())
    }

    /// The mode for an output that is, or is not, a terminal.
    pub(crate) fn pick(is_terminal: bool) -> Mode {
        if is_terminal { Mode::Bar } else { Mode::Plain }
    }
}

/// The progress of one task, counted in `unit`s towards an optional total.
#[derive(Debug)]
pub struct Progress {
    task: &'static str,
    unit: &'static str,
    total: Option<u64>,
    bar: Option<ProgressBar>,
    last_line: Mutex<Instant>,
}

impl Progress {
    /// Starts showing progress of `task` in the mode that fits stderr.
    pub fn new(task: &'static str, unit: &'static str, total: Option<u64>) -> Progress {
        Progress::with_mode(Mode::for_stderr(), task, unit, total)
    }

    /// Starts showing progress in the given mode.
    pub fn with_mode(mode: Mode, task: &'static str, unit: &'static str, total: Option<u64>) -> Progress {
        let bar = (mode == Mode::Bar).then(|| {
            let (bar, template) = match total {
                Some(t) => (
                    ProgressBar::new(t),
                    "{prefix} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} {msg} ({per_sec}, eta {eta})",
                ),
                None => (
                    ProgressBar::new_spinner(),
                    "{prefix} [{elapsed_precise}] {spinner} {human_pos} {msg} ({per_sec})",
                ),
            };
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
            bar.set_prefix(task);
            bar.set_message(unit);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            task,
            unit,
            total,
            bar,
            last_line: Mutex::new(Instant::now()),
        }
    }

    /// The mode in use.
    pub fn mode(&self) -> Mode {
        if self.bar.is_some() { Mode::Bar } else { Mode::Plain }
    }

    /// `done` units so far, and what is being done now (`""` for no change).
    pub fn set(&self, done: u64, doing: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                if !doing.is_empty() {
                    bar.set_message(format!("{} {doing}", self.unit));
                }
            }
            None => {
                let mut last = self.last_line.lock().unwrap_or_else(|e| e.into_inner());
                if last.elapsed() >= PLAIN_EVERY {
                    *last = Instant::now();
                    self.line(done, doing);
                }
            }
        }
    }

    fn line(&self, done: u64, doing: &str) {
        match self.total {
            Some(total) => {
                tracing::info!(
                    message = "progress",
                    task = self.task,
                    done,
                    total,
                    unit = self.unit,
                    doing
                )
            }
            None => tracing::info!(message = "progress", task = self.task, done, unit = self.unit, doing),
        }
    }

    /// Ends the bar (leaving its last state on screen) or writes a final line.
    pub fn finish(&self, done: u64) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                bar.finish();
            }
            None => self.line(done, "done"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_only_on_a_terminal() {
        assert_eq!(Mode::pick(true), Mode::Bar);
        assert_eq!(Mode::pick(false), Mode::Plain);
        let p = Progress::with_mode(Mode::Plain, "t", "rows", Some(10));
        assert_eq!(p.mode(), Mode::Plain);
        p.set(5, "x");
        p.finish(10);
        let b = Progress::with_mode(Mode::Bar, "t", "rows", Some(10));
        b.set(4, "loading");
        assert_eq!(b.bar.as_ref().map(ProgressBar::position), Some(4));
        b.finish(10);
    }
}
