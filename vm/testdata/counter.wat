;; A counter: `increment` adds one to the u64 stored under "count" and
;; returns the new value (8 bytes, little-endian); `get` only reads it.
(module
  (import "cairn" "storage_get" (func $storage_get (param i32 i32 i32 i32) (result i64)))
  (import "cairn" "storage_set" (func $storage_set (param i32 i32 i32 i32)))
  (import "cairn" "output_write" (func $output_write (param i32 i32)))
  (import "cairn" "emit_event" (func $emit_event (param i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "count")
  (data (i32.const 8) "incremented")

  ;; Loads the counter into memory at 32 (zero if absent).
  (func $load
    (if (i64.lt_s (call $storage_get (i32.const 0) (i32.const 5) (i32.const 32) (i32.const 8))
                  (i64.const 0))
      (then (i64.store (i32.const 32) (i64.const 0)))))

  (func (export "increment")
    (call $load)
    (i64.store (i32.const 32) (i64.add (i64.load (i32.const 32)) (i64.const 1)))
    (call $storage_set (i32.const 0) (i32.const 5) (i32.const 32) (i32.const 8))
    (call $emit_event (i32.const 8) (i32.const 11) (i32.const 32) (i32.const 8))
    (call $output_write (i32.const 32) (i32.const 8)))

  (func (export "get")
    (call $load)
    (call $output_write (i32.const 32) (i32.const 8))))
