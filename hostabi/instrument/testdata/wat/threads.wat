;; Threads (wat2wasm --enable-threads; wazero
;; experimental.CoreFeaturesThreads): shared memory and every kind of
;; atomic immediate.
(module
  (memory (export "memory") 1 1 shared)
  (func (export "atomics") (param $x i32) (result i64)
    (local $acc i64)
    (i32.atomic.store (i32.const 64) (local.get $x))
    (i64.atomic.store (i32.const 72) (i64.const 5))
    (i32.atomic.store8 (i32.const 80) (i32.const 1))
    (i64.atomic.store32 (i32.const 84) (i64.const 2))
    (drop (i32.atomic.rmw.add (i32.const 64) (i32.const 3)))
    (drop (i64.atomic.rmw.xor (i32.const 72) (i64.const 6)))
    (drop (i32.atomic.rmw8.or_u (i32.const 80) (i32.const 4)))
    (drop (i32.atomic.rmw.cmpxchg (i32.const 64) (i32.add (local.get $x) (i32.const 3)) (i32.const 99)))
    (drop (i64.atomic.rmw16.xchg_u (i32.const 88) (i64.const 7)))
    (atomic.fence)
    (local.set $acc (i64.extend_i32_u (i32.atomic.load (i32.const 64))))
    (local.set $acc (i64.add (local.get $acc) (i64.atomic.load (i32.const 72))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i32.atomic.load8_u (i32.const 80)))))
    (local.set $acc (i64.add (local.get $acc) (i64.atomic.load32_u (i32.const 84))))
    (local.set $acc (i64.add (local.get $acc) (i64.atomic.load16_u (i32.const 88))))
    ;; nobody waits: notify wakes 0; the value differs: wait returns 1
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (memory.atomic.notify (i32.const 64) (i32.const 1)))))
    (i64.add (local.get $acc)
      (i64.extend_i32_u (memory.atomic.wait32 (i32.const 64) (i32.const 12345) (i64.const 0)))))
  (func (export "spin")
    (loop $l (drop (i32.atomic.rmw.add (i32.const 0) (i32.const 1))) (br $l)))
)
