;; Behaviour module: loops, nested blocks, br_table, multi-value, recursion,
;; tables and elements, ref.func, a start function and a host import before
;; the one instrumentation adds, so that every function index moves.
(module
  (import "env" "add" (func $host_add (param i32 i32) (result i32)))
  (import "genv" "g0" (global $g0 i32))
  (type $i_i (func (param i32) (result i32)))
  (type $ii_ii (func (param i32 i32) (result i32 i32)))
  (memory (export "memory") 1)
  (table $t 4 funcref)
  (global $g (mut i32) (i32.const 0))
  (global $fref funcref (ref.func $double))
  (global $spins (mut i64) (i64.const 0))
  (elem (table $t) (i32.const 0) func $double $triple $fib)
  (elem declare func $sq)
  (start $init)

  (func $init (global.set $g (i32.add (global.get $g0) (i32.const 7))))

  (func $double (export "double") (type $i_i) (i32.mul (local.get 0) (i32.const 2)))
  (func $triple (type $i_i) (i32.mul (local.get 0) (i32.const 3)))
  (func $sq (type $i_i) (i32.mul (local.get 0) (local.get 0)))

  ;; sum of 0..n-1, a counted loop
  (func (export "sum") (param $n i64) (result i64) (local $i i64) (local $s i64)
    (block $done
      (loop $l
        (br_if $done (i64.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i64.add (local.get $s) (local.get $i)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (br $l)))
    (local.get $s))

  ;; spins until interrupted
  (func (export "spin")
    (loop $l
      (global.set $spins (i64.add (global.get $spins) (i64.const 1)))
      (br $l)))
  (func (export "spins") (result i64) (global.get $spins))
  ;; the spin loop, bounded: n iterations
  (func (export "bump") (param $n i64)
    (loop $l
      (global.set $spins (i64.add (global.get $spins) (i64.const 1)))
      (br_if $l (i64.ne (local.tee $n (i64.sub (local.get $n) (i64.const 1))) (i64.const 0)))))

  ;; recursion without any loop
  (func $fib (export "fib") (type $i_i)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (local.get 0))
      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1)))
                     (call $fib (i32.sub (local.get 0) (i32.const 2)))))))

  ;; nested blocks and br_table
  (func (export "classify") (param i32) (result i32)
    (block $d
      (block $c
        (block $b
          (block $a
            (br_table $a $b $c $d (local.get 0)))
          (return (i32.const 10)))
        (return (i32.const 20)))
      (return (i32.const 30)))
    (i32.const 40))

  ;; multi-value: a function returning two values, and a loop with params
  (func $divmod (type $ii_ii)
    (i32.div_u (local.get 0) (local.get 1))
    (i32.rem_u (local.get 0) (local.get 1)))
  (func (export "divmod_sum") (param i32 i32) (result i32)
    (call $divmod (local.get 0) (local.get 1))
    (i32.add))
  ;; n + (n-1) + ... + 1 with the accumulator and the counter carried as
  ;; the loop's parameters
  (func (export "count_mv") (param $n i32) (result i32)
    (i32.const 0) (local.get $n)
    (loop $l (param i32 i32) (result i32)
      (local.set $n)
      (i32.add (local.get $n))
      (i32.sub (local.get $n) (i32.const 1))
      (i32.gt_u (local.get $n) (i32.const 1))
      (br_if $l)
      (drop)))

  ;; tables: call_indirect through the element segment, and ref.func
  (func (export "indirect") (param i32 i32) (result i32)
    (call_indirect (type $i_i) (local.get 1) (local.get 0)))
  (func (export "via_ref") (param i32) (result i32)
    (table.set $t (i32.const 3) (ref.func $sq))
    (call_indirect (type $i_i) (local.get 0) (i32.const 3)))
  (func (export "via_global") (param i32) (result i32)
    (table.set $t (i32.const 3) (global.get $fref))
    (call_indirect (type $i_i) (local.get 0) (i32.const 3)))

  (func (export "host") (param i32 i32) (result i32) (call $host_add (local.get 0) (local.get 1)))
  (func (export "get_g") (result i32) (global.get $g))
)
