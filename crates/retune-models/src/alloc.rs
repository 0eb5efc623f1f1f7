//! Allocator tuning for training and inference on the CPU.
//!
//! A training step allocates and frees many large buffers. With glibc's defaults each of them is
//! a fresh `mmap` whose pages fault in on first touch and go back to the kernel on `free`;
//! raising the mmap and trim thresholds keeps them in the heap for reuse.

/// Raises glibc's mmap and trim thresholds (once per process; no-op elsewhere).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only changes allocator parameters.
            unsafe {
                // 32 MiB is glibc's largest allowed mmap threshold on 64-bit (a larger value is
                // rejected and the default stays).
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
                libc::mallopt(libc::M_TOP_PAD, 64 << 20);
            }
        });
    }
}
