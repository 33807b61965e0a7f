//! Fault injection for the crash-safety tests: every place where distill makes a write
//! durable (a temporary file synced, a rename, a checkpoint step) is a fault point. A process
//! run with `DISTILL_FAULT_AT=N` dies at the N-th point as if the machine lost power there
//! (`abort`: no destructor, no flush); with `DISTILL_FAULT_AT=N:error` the N-th point fails
//! with an I/O error as a full disk would. Without the variable every point is a no-op.
//! The tests run a command once per N until it passes every point, and check that a rerun
//! then gives exactly the uninterrupted result.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The environment variable that arms a fault.
pub const FAULT_VAR: &str = "DISTILL_FAULT_AT";

#[derive(Clone, Copy)]
enum Fault {
    Crash,
    Error,
}

fn armed() -> Option<(usize, Fault)> {
    static ARMED: OnceLock<Option<(usize, Fault)>> = OnceLock::new();
    *ARMED.get_or_init(|| {
        let text = std::env::var(FAULT_VAR).ok()?;
        let (n, kind) = match text.split_once(':') {
            Some((n, "error")) => (n, Fault::Error),
            Some(_) => return None,
            None => (text.as_str(), Fault::Crash),
        };
        Some((n.trim().parse().ok()?, kind))
    })
}

static PASSED: AtomicUsize = AtomicUsize::new(0);

/// A fault point named `what` (for the injected error's message).
pub fn point(what: &str) -> std::io::Result<()> {
    let Some((at, fault)) = armed() else {
        return Ok(());
    };
    if PASSED.fetch_add(1, Ordering::SeqCst) + 1 != at {
        return Ok(());
    }
    match fault {
        Fault::Crash => std::process::abort(),
        Fault::Error => Err(std::io::Error::new(
            std::io::ErrorKind::StorageFull,
            format!("injected fault at {what} ({FAULT_VAR})"),
        )),
    }
}
