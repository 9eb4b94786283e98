;; Never returns: only gas stops it.
(module
  (memory (export "memory") 1)
  (func (export "spin") (loop $forever (br $forever))))
