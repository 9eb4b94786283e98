#!/usr/bin/env bash
# Builds vm/testdata/rust-contract for wasm32 and either updates the
# committed rust_contract.wasm (`update`) or checks that a fresh build gives
# the same bytes (`check`).
set -euo pipefail
mode=${1:-check}
root=$(cd "$(dirname "$0")/.." && pwd)
crate="$root/vm/testdata/rust-contract"
target="${CARGO_TARGET_DIR:-$root/target}/fixtures"
committed="$root/vm/testdata/rust_contract.wasm"

(cd "$crate" && CARGO_TARGET_DIR="$target" cargo build --locked --quiet --release --target wasm32-unknown-unknown)
built="$target/wasm32-unknown-unknown/release/rust_contract.wasm"

case "$mode" in
  update)
    cp "$built" "$committed"
    echo "updated $committed ($(wc -c <"$committed") bytes)"
    ;;
  check)
    if cmp -s "$built" "$committed"; then
      echo "fixtures: rust_contract.wasm rebuilds to the committed bytes"
    else
      echo "fixtures: a fresh build of vm/testdata/rust-contract differs from the committed rust_contract.wasm" >&2
      echo "          (run 'make fixtures' and commit the result if the change is intended)" >&2
      exit 1
    fi
    ;;
  *) echo "usage: $0 check|update" >&2; exit 2 ;;
esac
