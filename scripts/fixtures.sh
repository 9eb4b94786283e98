#!/usr/bin/env bash
# Builds the compiled contract fixtures and either updates the committed
# ones (`update`) or checks that a fresh build gives the same bytes
# (`check`):
#   vm/testdata/rust_contract.wasm       from vm/testdata/rust-contract (raw ABI, plain cargo)
#   contracts-sdk/testdata/<name>.wasm   from contracts-sdk/examples/<name> (cargo cairn build)
#   contracts-sdk/testdata/<name>.abi.json
set -euo pipefail
mode=${1:-check}
case "$mode" in check|update) ;; *) echo "usage: $0 check|update" >&2; exit 2 ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
target="${CARGO_TARGET_DIR:-$root/target}"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
# Contracts build with plain rustc: a lint wrapper exported in the shell
# (clippy-driver, as `make test` uses for the workspace) compiles with
# `--cfg clippy` and gives other bytes.
unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS

compare() { # built committed
  if [ "$mode" = update ]; then
    cp "$1" "$2"
    echo "updated ${2#$root/} ($(wc -c <"$2") bytes)"
  elif cmp -s "$1" "$2"; then
    echo "fixtures: ${2#$root/} rebuilds to the committed bytes"
  else
    echo "fixtures: a fresh build differs from ${2#$root/}" >&2
    failed=1
  fi
}

# The contract written against the raw ABI.
(cd "$root/vm/testdata/rust-contract" &&
  CARGO_TARGET_DIR="$target/fixtures" cargo build --locked --quiet --release --target wasm32-unknown-unknown)
compare "$target/fixtures/wasm32-unknown-unknown/release/rust_contract.wasm" "$root/vm/testdata/rust_contract.wasm"

# The SDK examples, built the way contract authors build them, strictly
# (`--locked`): the committed Cargo.lock pins what goes into the fixtures,
# and a build that would change it fails instead.
# `make test` passes the cargo-cairn its test build just made; building it
# here with `-p` would resolve features differently and build wasmer again.
cargo_cairn=${CARGO_CAIRN:-}
if [ -z "$cargo_cairn" ]; then
  cargo build --locked --quiet -p cargo-cairn
  cargo_cairn="$target/debug/cargo-cairn"
fi
for example in counter token escrow hasher; do
  "$cargo_cairn" build --locked --json \
    --manifest-path "$root/contracts-sdk/examples/$example/Cargo.toml" --out-dir "$scratch" >/dev/null
  compare "$scratch/$example.wasm" "$root/contracts-sdk/testdata/$example.wasm"
  compare "$scratch/$example.abi.json" "$root/contracts-sdk/testdata/$example.abi.json"
done

if [ "$failed" -ne 0 ]; then
  echo "fixtures: run 'make fixtures' and commit the result if the change is intended" >&2
  exit 1
fi
