// An AssemblyScript module built by the tests (asc, runtime "incremental"
// so that its garbage collector runs) to instrument.

let sink: u64 = 0;

// spin never returns: the loop the host must interrupt.
export function spin(): void {
  while (true) {
    sink++;
  }
}

export function spins(): u64 {
  return sink;
}

// fib recurses without loops.
export function fib(n: i32): i32 {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

// work allocates managed objects, sorts, formats and hashes.
export function work(n: i32): u64 {
  const xs = new Array<u32>(n);
  let x: u32 = 12345;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    xs[i] = x % 100000;
  }
  xs.sort();
  const seen = new Map<string, i32>();
  let h: u64 = 14695981039346656037;
  for (let i = 0; i < n; i++) {
    const s = xs[i].toString();
    seen.set(s, seen.has(s) ? seen.get(s) + 1 : 1);
    for (let j = 0; j < s.length; j++) {
      h ^= <u64>s.charCodeAt(j);
      h *= 1099511628211;
    }
  }
  return h ^ <u64>seen.size;
}
