//! Ctrl-C and SIGTERM: every command stops at once with one line saying that what it wrote
//! is kept and that rerunning the command resumes. That is safe at any moment: every file
//! appears under its final name only when complete, a checkpoint is one atomic step, and the
//! folder locks die with the process. A sweep's trainer processes are killed with their
//! parent (`PR_SET_PDEATHSIG`), so none outlives it to keep writing.

use std::os::unix::process::CommandExt;
use std::process::Command;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// The exit code of a command stopped by a signal (128 + SIGINT, as shells report it).
const INTERRUPTED: i32 = 130;

/// Stops the process with a message on Ctrl-C or SIGTERM.
pub fn install() {
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM]) else {
        return; // no handler: the default action still stops the process
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let name = if signal == SIGINT {
                "Ctrl-C"
            } else {
                "SIGTERM"
            };
            eprintln!(
                "\nstopped by {name}: everything finished so far is kept; rerun the same command to resume"
            );
            std::process::exit(INTERRUPTED);
        }
    });
}

/// Makes `cmd`'s process die (SIGKILL) when this process dies, however it dies.
pub fn die_with_parent(cmd: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and only calls
    // async-signal-safe functions (prctl, getppid, _exit).
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the call: then nobody would kill this child.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}
