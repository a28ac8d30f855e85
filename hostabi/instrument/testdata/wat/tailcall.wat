;; Tail calls (wat2wasm --enable-tail-call; wazero
;; experimental.CoreFeaturesTailCall): loops made of return_call alone,
;; which only the checks at function entry can interrupt.
(module
  (type $i_i (func (param i32) (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $even $odd)
  (func $even (export "even") (type $i_i)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 1))
      (else (return_call $odd (i32.sub (local.get 0) (i32.const 1))))))
  (func $odd (type $i_i)
    (if (result i32) (i32.eqz (local.get 0))
      (then (i32.const 0))
      (else (return_call_indirect (type $i_i) (i32.sub (local.get 0) (i32.const 1)) (i32.const 0)))))
  ;; spins forever without a loop
  (func $spin (export "spin") (return_call $spin))
)
