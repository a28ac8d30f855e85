// spin is a handler for the interruption tests (hostabi/interrupt_test.go),
// in AssemblyScript: it keeps every change of a batch, and never returns
// from a batch whose message holds the bytes "SPIN".

let sink: u64 = 0;

export function puma_abi_v1(): void {}

export function puma_alloc(n: i32): usize {
  return heap.alloc(<usize>n);
}

export function puma_init(ptr: usize, len: i32): u64 {
  return 0;
}

// "SPIN" read as a little-endian u32.
const SPIN: u32 = 0x4e495053;

export function puma_handle(ptr: usize, len: i32): u64 {
  for (let i = 0; i + 4 <= len; i++) {
    if (load<u32>(ptr + <usize>i) == SPIN) {
      while (true) {
        sink++;
      }
    }
  }
  return 0;
}
