//! Asking for memory before it is read.
//!
//! With a hundred thousand rules, most of what an article's hits lead to (the anchor table's
//! slots and checks, term lists, rules and their conditions, the Python values a match is made
//! of) is out of the cache, and a loop that reads one such place after another waits for
//! memory each time. A first pass that asks for them all lets those waits overlap; or, where
//! one read leads to the next (a rule, then its conditions), a loop asks for what it will read
//! some items ahead. Each use was kept only where an A/B of two builds, alternated in one
//! process, showed it faster.

/// Ask the CPU to bring the cache line at `address` in: a hint, which reads nothing the program
/// sees and never faults, whatever the address.
#[inline(always)]
pub fn prefetch<T>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch neither reads memory the program sees nor faults.
    #[allow(unused_unsafe)]
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}
