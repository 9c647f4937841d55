//! Asking for memory before it is read.
//!
//! With a hundred thousand rules, what a match is made of (its rule's id and the labels of its
//! evidence, Python objects whose reference counts are written) is rarely in the cache, and
//! making each match waits for it in turn. A first pass that asks for all of it lets those
//! waits overlap.

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
