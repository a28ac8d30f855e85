;; Provides the global loops.wat imports (wazero host modules export
;; functions only).
(module (global (export "g0") i32 (i32.const 5)))
