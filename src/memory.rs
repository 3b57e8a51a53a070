//! Process-wide memory settings.

/// Large buffers (multipart parts are 8 MiB) come straight from mmap and go back to the system
/// when freed. glibc otherwise raises its mmap threshold after the first free, serves later
/// parts from its arenas, and keeps the freed memory: measured here, that put a 1 GiB URL
/// ingest at about 65 MiB peak RSS instead of about 49 MiB.
///
/// Setting the mmap threshold also stops glibc's own rule that keeps the trim threshold at
/// twice the mmap threshold, leaving it at 128 KiB. Every warm invocation frees more than that
/// at the top of the heap (the event's text, the decoded body, the request), so glibc gave it
/// back to the kernel and took it again on the next invocation: callgrind counted about four
/// `brk` calls per invocation, each taking back pages the kernel must fault in and zero again.
/// The trim threshold is set to what glibc's rule would give, twice the mmap threshold: the
/// heap keeps at most 2 MiB free between invocations, and anything of 1 MiB or more still
/// goes back at once.
pub fn return_large_buffers_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const THRESHOLD: libc::c_int = 1024 * 1024;
        // SAFETY: mallopt only changes allocator parameters; it is called before any thread starts.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 2 * THRESHOLD);
        }
    }
}
