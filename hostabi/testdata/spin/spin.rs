//! spin is a handler for the interruption tests (hostabi/interrupt_test.go),
//! in Rust (wasm32-unknown-unknown, cdylib): it keeps every change of a
//! batch, and never returns from a batch whose message holds the bytes
//! "SPIN".

use std::sync::atomic::{AtomicU64, Ordering};

static SINK: AtomicU64 = AtomicU64::new(0);

#[no_mangle]
pub extern "C" fn puma_abi_v1() {}

#[no_mangle]
pub extern "C" fn puma_alloc(n: u32) -> u32 {
    // The previous arena is leaked: the host asks rarely.
    let mut v: Vec<u8> = Vec::with_capacity(n as usize);
    let p = v.as_mut_ptr();
    std::mem::forget(v);
    p as u32
}

#[no_mangle]
pub extern "C" fn puma_init(_ptr: u32, _len: u32) -> u64 {
    0
}

#[no_mangle]
pub extern "C" fn puma_handle(ptr: u32, len: u32) -> u64 {
    let msg = unsafe { std::slice::from_raw_parts(ptr as *const u8, len as usize) };
    if msg.windows(4).any(|w| w == b"SPIN") {
        loop {
            SINK.fetch_add(1, Ordering::Relaxed);
        }
    }
    0
}
