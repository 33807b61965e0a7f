//! How the C allocator (glibc) treats freed memory, set once per command for its workload
//! (and lifted for a data pass in the middle of training, [`returning_large_blocks`]).

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether [`keep_freed_memory`] is the policy in force.
static KEEPING: AtomicBool = AtomicBool::new(false);

/// Blocks of this size or more are mapped on their own when large blocks are returned.
const LARGE_BLOCK: i32 = 1 << 20;

/// Blocks below this size come from the heap when freed memory is kept.
const KEPT_BLOCK: i32 = 1 << 30;

/// Asks the C allocator to keep freed memory for reuse instead of handing large blocks back
/// to the kernel at every `free`. A training step allocates and frees activations and
/// gradients of megabytes each; by default glibc serves each from a fresh `mmap`, so every
/// step pays page faults and the kernel's zeroing of those pages (10–25 % of a CNN's
/// training time on 2 cores). The process keeps its peak heap instead. Affects the whole
/// process; call it once, before training. Does nothing off glibc.
pub fn keep_freed_memory() {
    KEEPING.store(true, Ordering::Relaxed);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator settings; it is safe to call at any time.
    unsafe {
        // The heap is not trimmed...
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
    // ...and blocks up to 1 GiB come from it (reused).
    set_mmap_threshold(KEPT_BLOCK);
}

/// Asks the C allocator to map every block of 1 MiB or more on its own and hand it back
/// when it is freed. A streaming pass (the teacher over a split) allocates batches and
/// Parquet row groups of megabytes, from several threads, for as long as the split is.
/// glibc's default threshold slides up to the largest block freed, after which such blocks
/// come from per-thread arenas that fragment: peak memory then creeps up with the length of
/// the run (measured: about 35 MiB more at 30,000 Parquet rows than at 10,000, against
/// 15 MiB with this). A mapping per batch costs page faults that are small beside running
/// the teacher on it. Call it once, before the pass. Does nothing off glibc.
pub fn return_large_blocks() {
    KEEPING.store(false, Ordering::Relaxed);
    set_mmap_threshold(LARGE_BLOCK);
}

/// Runs `f`, a pass that reads data (Parquet row groups of megabytes, freed by several
/// threads), with large blocks returned as [`return_large_blocks`] does, then puts back
/// [`keep_freed_memory`] if that was in force: training keeps its freed memory for its
/// steps, and the data read between them does not fragment the heap (measured: the peak
/// of one epoch over 100k Parquet images grew by 58 MiB from 10k images when its windows
/// were read under the training policy). Blocks keep the way they were allocated: a
/// mapped one is unmapped when freed whatever the policy then.
pub fn returning_large_blocks<R>(f: impl FnOnce() -> R) -> R {
    let keeping = KEEPING.load(Ordering::Relaxed);
    if keeping {
        set_mmap_threshold(LARGE_BLOCK);
    }
    let result = f();
    if keeping {
        set_mmap_threshold(KEPT_BLOCK);
    }
    result
}

fn set_mmap_threshold(bytes: i32) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator settings; it is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, bytes);
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = bytes;
}
