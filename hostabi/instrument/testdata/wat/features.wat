;; Every opcode family the walker decodes, in functions whose results the
;; tests compare between the original and the instrumented module:
;; MVP, sign extension, saturating conversions, bulk memory, reference
;; types, multi-value and fixed-width SIMD (wat2wasm's defaults).
(module
  (type $i_i (func (param i32) (result i32)))
  (type $ii_i (func (param i32 i32) (result i32)))
  (type $i_ii (func (param i32) (result i32 i32)))
  (memory (export "memory") 1 4)
  (table $t 8 funcref)
  (table $ext 2 externref)
  (global $counter (mut i64) (i64.const 0))
  (global $imm f64 (f64.const 1.5))
  (global $nullref (mut funcref) (ref.null func))
  (data $d "abcdefghijklmnopqrstuvwxyz012345")
  (data (i32.const 1024) "\01\02\03\04\05\06\07\08\09\0a\0b\0c\0d\0e\0f\10")
  (elem $e func $inc $dec $neg)
  (elem (table $t) (i32.const 0) funcref (ref.func $inc) (ref.null func) (ref.func $dec))
  (elem declare funcref (ref.func $neg))

  (func $inc (type $i_i) (i32.add (local.get 0) (i32.const 1)))
  (func $dec (type $i_i) (i32.sub (local.get 0) (i32.const 1)))
  (func $neg (type $i_i) (i32.sub (i32.const 0) (local.get 0)))

  ;; MVP numeric, memory, control and parametric instructions
  (func (export "mvp") (param $x i32) (result i64)
    (local $acc i64) (local $f f32) (local $d f64)
    (i32.store8 offset=2048 (i32.const 0) (local.get $x))
    (i32.store16 offset=2050 (i32.const 0) (local.get $x))
    (i32.store offset=2052 (i32.const 0) (local.get $x))
    (i64.store8 offset=2056 (i32.const 0) (i64.extend_i32_s (local.get $x)))
    (i64.store16 offset=2058 (i32.const 0) (i64.extend_i32_u (local.get $x)))
    (i64.store32 offset=2060 (i32.const 0) (i64.const -7))
    (i64.store offset=2064 (i32.const 0) (i64.const 0x0123456789abcdef))
    (f32.store offset=2072 (i32.const 0) (f32.const 3.25))
    (f64.store offset=2076 (i32.const 0) (global.get $imm))
    (local.set $acc
      (i64.add
        (i64.add (i64.extend_i32_u (i32.load8_s offset=2048 (i32.const 0)))
                 (i64.extend_i32_u (i32.load8_u offset=2048 (i32.const 0))))
        (i64.add (i64.extend_i32_s (i32.load16_s offset=2050 (i32.const 0)))
                 (i64.extend_i32_s (i32.load16_u offset=2050 (i32.const 0))))))
    (local.set $acc (i64.xor (local.get $acc)
      (i64.add (i64.load8_s offset=2056 (i32.const 0)) (i64.load8_u offset=2056 (i32.const 0)))))
    (local.set $acc (i64.add (local.get $acc)
      (i64.add (i64.load16_s offset=2058 (i32.const 0)) (i64.load16_u offset=2058 (i32.const 0)))))
    (local.set $acc (i64.add (local.get $acc)
      (i64.add (i64.load32_s offset=2060 (i32.const 0)) (i64.load32_u offset=2060 (i32.const 0)))))
    (local.set $acc (i64.rotl (local.get $acc) (i64.load offset=2064 (i32.const 0))))
    (local.set $f (f32.load offset=2072 (i32.const 0)))
    (local.set $d (f64.load offset=2076 (i32.const 0)))
    (local.set $d (f64.add (local.get $d) (f64.promote_f32 (f32.sqrt (local.get $f)))))
    (local.set $acc (i64.add (local.get $acc) (i64.trunc_f64_s (f64.mul (local.get $d) (f64.const 1000)))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i32.load offset=2052 (i32.const 0)))))
    (local.set $acc (i64.add (local.get $acc)
      (i64.extend_i32_u (i32.add (i32.clz (local.get $x)) (i32.popcnt (local.get $x))))))
    (local.set $acc (i64.add (local.get $acc)
      (select (i64.const 11) (i64.const 13) (i32.and (local.get $x) (i32.const 1)))))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (memory.size))))
    (local.set $acc (i64.add (local.get $acc) (i64.reinterpret_f64 (f64.convert_i64_s (local.get $acc)))))
    (i64.add (local.get $acc)
      (i64.extend_i32_s (call_indirect (type $i_i) (local.get $x) (i32.rem_u (local.get $x) (i32.const 2))))))

  (func (export "grow") (result i32)
    (i32.add (memory.grow (i32.const 1)) (i32.mul (memory.size) (i32.const 100))))

  ;; sign extension
  (func (export "signext") (param $x i64) (result i64)
    (i64.add
      (i64.add (i64.extend8_s (local.get $x)) (i64.extend16_s (local.get $x)))
      (i64.add (i64.extend32_s (local.get $x))
        (i64.extend_i32_s (i32.add (i32.extend8_s (i32.wrap_i64 (local.get $x)))
                                   (i32.extend16_s (i32.wrap_i64 (local.get $x))))))))

  ;; saturating conversions
  (func (export "satconv") (param $d f64) (result i64)
    (local $f f32)
    (local.set $f (f32.demote_f64 (local.get $d)))
    (i64.add
      (i64.add
        (i64.add (i64.extend_i32_s (i32.trunc_sat_f32_s (local.get $f)))
                 (i64.extend_i32_u (i32.trunc_sat_f32_u (local.get $f))))
        (i64.add (i64.extend_i32_s (i32.trunc_sat_f64_s (local.get $d)))
                 (i64.extend_i32_u (i32.trunc_sat_f64_u (local.get $d)))))
      (i64.add
        (i64.add (i64.trunc_sat_f32_s (local.get $f)) (i64.trunc_sat_f32_u (local.get $f)))
        (i64.add (i64.trunc_sat_f64_s (local.get $d)) (i64.trunc_sat_f64_u (local.get $d))))))

  ;; bulk memory and table instructions
  (func (export "bulk") (param $n i32) (result i32)
    (memory.init $d (i32.const 4096) (i32.const 0) (i32.const 32))
    (memory.copy (i32.const 4200) (i32.const 4096) (local.get $n))
    (memory.fill (i32.const 4300) (i32.const 0x5a) (local.get $n))
    (table.init $t $e (i32.const 4) (i32.const 0) (i32.const 3))
    (table.copy $t $t (i32.const 1) (i32.const 4) (i32.const 1))
    (drop (table.grow $t (ref.null func) (i32.const 2)))
    (table.fill $t (i32.const 8) (ref.func $neg) (i32.const 2))
    (i32.add
      (i32.add (i32.load (i32.add (i32.const 4200) (local.get $n)))
               (i32.load8_u (i32.const 4300)))
      (i32.add (table.size $t)
        (i32.add (call_indirect $t (type $i_i) (local.get $n) (i32.const 1))
                 (call_indirect $t (type $i_i) (local.get $n) (i32.const 9))))))
  (func (export "drops")
    (data.drop $d)
    (elem.drop $e))

  ;; reference types
  (func (export "reftypes") (param $x i32) (param $e externref) (result i32)
    (table.set $ext (i32.const 0) (local.get $e))
    (global.set $nullref (ref.func $inc))
    (table.set $t (i32.const 2) (global.get $nullref))
    (i32.add
      (i32.add (ref.is_null (table.get $ext (i32.const 0)))
               (ref.is_null (ref.null extern)))
      (i32.add
        (select (result i32) (i32.const 100) (i32.const 200) (local.get $x))
        (i32.add (ref.is_null (select (result funcref) (ref.func $dec) (ref.null func) (local.get $x)))
                 (call_indirect (type $i_i) (local.get $x) (i32.const 2))))))

  ;; multi-value: blocks and ifs with parameters and several results
  (func $pair (type $i_ii) (local.get 0) (i32.mul (local.get 0) (i32.const 3)))
  (func (export "multivalue") (param $x i32) (result i32)
    (call $pair (local.get $x))
    (block (type $ii_i) (i32.add))
    (call $pair)
    (if (type $ii_i) (i32.and (local.get $x) (i32.const 1))
      (then (i32.sub))
      (else (i32.mul)))
    (local.get $x)
    (loop (param i32 i32) (result i32) (i32.xor)))

  ;; fixed-width SIMD: constants, shuffles, lanes, loads and stores of
  ;; every shape, arithmetic
  (func (export "simd") (param $x i32) (result i32)
    (local $v v128) (local $w v128)
    (local.set $v (v128.const i32x4 1 2 3 4))
    (local.set $v (i32x4.replace_lane 2 (local.get $v) (local.get $x)))
    (local.set $w (i8x16.shuffle 0 17 2 19 4 21 6 23 8 25 10 27 12 29 14 31 (local.get $v) (v128.load (i32.const 1024))))
    (local.set $w (i8x16.replace_lane 3 (local.get $w) (i32.const 9)))
    (local.set $w (i16x8.replace_lane 5 (local.get $w) (i32.const 300)))
    (local.set $w (i64x2.replace_lane 1 (local.get $w) (i64.const 77)))
    (local.set $w (f32x4.replace_lane 0 (local.get $w) (f32.const 2.5)))
    (local.set $w (f64x2.replace_lane 0 (local.get $w) (f64.const 0.5)))
    (v128.store offset=3000 (i32.const 0) (i32x4.add (local.get $v) (local.get $w)))
    (v128.store8_lane 1 (i32.const 3100) (local.get $w))
    (v128.store16_lane 2 (i32.const 3102) (local.get $w))
    (v128.store32_lane 3 (i32.const 3104) (local.get $w))
    (v128.store64_lane 1 (i32.const 3108) (local.get $w))
    (local.set $v (v128.load8_lane 0 (i32.const 1024) (local.get $v)))
    (local.set $v (v128.load16_lane 1 (i32.const 1026) (local.get $v)))
    (local.set $v (v128.load32_lane 2 (i32.const 1028) (local.get $v)))
    (local.set $v (v128.load64_lane 1 (i32.const 1024) (local.get $v)))
    (local.set $v (i16x8.add (local.get $v) (v128.load8x8_s (i32.const 1024))))
    (local.set $v (i32x4.mul (local.get $v) (v128.load16x4_u (i32.const 1024))))
    (local.set $v (i64x2.add (local.get $v) (v128.load32x2_s (i32.const 1024))))
    (local.set $v (v128.xor (local.get $v) (v128.load32_splat (i32.const 1028))))
    (local.set $v (v128.or (local.get $v) (v128.load32_zero (i32.const 1032))))
    (local.set $v (v128.and (local.get $v) (v128.not (v128.load64_zero (i32.const 1040)))))
    (local.set $v (v128.bitselect (local.get $v) (local.get $w) (v128.load8_splat (i32.const 1030))))
    (local.set $v (i8x16.swizzle (local.get $v) (i8x16.splat (i32.const 3))))
    (local.set $v (i32x4.add (local.get $v) (i32x4.dot_i16x8_s (local.get $v) (local.get $w))))
    (local.set $v (i8x16.popcnt (local.get $v)))
    (local.set $w (f32x4.mul (f32x4.splat (f32.const 1.5)) (f32x4.convert_i32x4_s (local.get $v))))
    (local.set $v (i32x4.add (local.get $v) (i32x4.trunc_sat_f32x4_s (local.get $w))))
    (i32.add
      (i32.add
        (i32.add (i8x16.extract_lane_s 1 (local.get $v)) (i8x16.extract_lane_u 2 (local.get $v)))
        (i32.add (i16x8.extract_lane_s 3 (local.get $v)) (i16x8.extract_lane_u 4 (local.get $v))))
      (i32.add
        (i32.add (i32x4.extract_lane 1 (local.get $v))
                 (i32.wrap_i64 (i64x2.extract_lane 0 (local.get $v))))
        (i32.add
          (i32.add (i32.trunc_f32_s (f32x4.extract_lane 0 (local.get $w)))
                   (i32.trunc_f64_s (f64x2.extract_lane 1 (f64x2.promote_low_f32x4 (local.get $w)))))
          (i32.add (v128.any_true (local.get $v)) (i32x4.all_true (local.get $v)))))))

  ;; nested loops, each iteration counted
  (func (export "nested") (param $n i32) (result i64)
    (local $i i32) (local $j i32)
    (loop $outer
      (local.set $j (i32.const 0))
      (loop $inner
        (global.set $counter (i64.add (global.get $counter) (i64.const 1)))
        (br_if $inner (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $n))))
      (br_if $outer (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $n))))
    (global.get $counter))

  ;; spins until interrupted, inside nested blocks
  (func (export "spin")
    (block (loop $l (block (br $l)))))
)
