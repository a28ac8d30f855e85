// A Rust cdylib built by the tests with Debian's rustc for
// wasm32-unknown-unknown to instrument.
use std::collections::BTreeMap;

static mut SINK: u64 = 0;

/// Never returns: the loop the host must interrupt.
#[no_mangle]
pub extern "C" fn spin() {
    loop {
        unsafe { std::ptr::write_volatile(std::ptr::addr_of_mut!(SINK), SINK + 1) }
    }
}

#[no_mangle]
pub extern "C" fn spins() -> u64 {
    unsafe { std::ptr::read_volatile(std::ptr::addr_of!(SINK)) }
}

#[no_mangle]
pub extern "C" fn fib(n: i32) -> i32 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

/// Allocates, sorts, formats and hashes.
#[no_mangle]
pub extern "C" fn work(n: i32) -> u64 {
    let mut x: u32 = 12345;
    let mut xs: Vec<u32> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x % 100000
        })
        .collect();
    xs.sort_unstable();
    let mut seen = BTreeMap::new();
    let mut h: u64 = 14695981039346656037;
    for v in &xs {
        let s = v.to_string();
        *seen.entry(s.clone()).or_insert(0u32) += 1;
        for b in s.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(1099511628211);
        }
    }
    h ^ seen.len() as u64
}

/// Floating point and narrowing conversions (saturating in Rust).
#[no_mangle]
pub extern "C" fn conv(d: f64, x: i32) -> i64 {
    (d as i64) + (d as f32 as i32) as i64 + (x as i8) as i64 + (x as i16) as i64
}
