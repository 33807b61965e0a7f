//! How the C allocator (glibc) treats freed memory, set once per command for its workload.

/// Asks the C allocator to keep freed memory for reuse instead of handing large blocks back
/// to the kernel at every `free`. A training step allocates and frees activations and
/// gradients of megabytes each; by default glibc serves each from a fresh `mmap`, so every
/// step pays page faults and the kernel's zeroing of those pages (10–25 % of a CNN's
/// training time on 2 cores). The process keeps its peak heap instead. Affects the whole
/// process; call it once, before training. Does nothing off glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator settings; it is safe to call at any time.
    unsafe {
        // Blocks up to 1 GiB come from the heap (reused), and the heap is not trimmed.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
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
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator settings; it is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
