#!/usr/bin/env bash
# Builds the example contracts (contracts-sdk/examples/*, with
# `cargo cairn build`) and vm/testdata/rust-contract (plain cargo) at each
# opt-level of $LEVELS (default "z s 2 3"), everything else of their
# profiles unchanged, into <out-dir>/<level>/<name>.wasm, and prints the
# sizes. The benchmark that times and meters them:
#
#   CAIRN_OPT_LEVELS_DIR=<out-dir> cargo bench --locked -p cairn-vm --bench contract_opt_levels
#
# usage: scripts/contract-opt-levels.sh [out-dir]   (default <target>/opt-levels)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target="${CARGO_TARGET_DIR:-$root/target}"
out=${1:-$target/opt-levels}
levels=${LEVELS:-z s 2 3}
examples="counter token escrow hasher"
# As scripts/fixtures.sh: a lint wrapper in the shell would change the bytes.
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS

cargo build --locked --quiet -p cargo-cairn
cargo_cairn="$target/debug/cargo-cairn"

for level in $levels; do
  mkdir -p "$out/$level"
  # One target directory per level, so that a second run rebuilds nothing.
  (cd "$root/vm/testdata/rust-contract" &&
    CARGO_PROFILE_RELEASE_OPT_LEVEL=$level CARGO_TARGET_DIR="$target/opt-levels-build/$level" \
      cargo build --locked --quiet --release --target wasm32-unknown-unknown)
  cp "$target/opt-levels-build/$level/wasm32-unknown-unknown/release/rust_contract.wasm" "$out/$level/"
  for example in $examples; do
    CARGO_PROFILE_CONTRACT_OPT_LEVEL=$level CARGO_TARGET_DIR="$target/opt-levels-build/$level" \
      "$cargo_cairn" build --locked --json \
      --manifest-path "$root/contracts-sdk/examples/$example/Cargo.toml" --out-dir "$out/$level" >/dev/null
  done
done

# The sizes, and which level the committed fixtures were built at.
printf '%-14s' "bytes"
for level in $levels; do printf '%10s' "$level"; done
echo
for name in rust_contract $examples; do
  printf '%-14s' "$name"
  for level in $levels; do printf '%10s' "$(wc -c <"$out/$level/$name.wasm")"; done
  echo
done
for level in $levels; do
  same=1
  for example in $examples; do
    cmp -s "$out/$level/$example.wasm" "$root/contracts-sdk/testdata/$example.wasm" || same=0
  done
  if [ "$same" = 1 ]; then echo "the committed examples are the $level build"; fi
  if cmp -s "$out/$level/rust_contract.wasm" "$root/vm/testdata/rust_contract.wasm"; then
    echo "the committed rust_contract.wasm is the $level build"
  fi
done
