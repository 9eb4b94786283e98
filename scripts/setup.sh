#!/usr/bin/env bash
# Installs what building and testing Cairn needs, saying what it installs.
# Safe to run again: it only acts on what is missing.
set -euo pipefail

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
  say "Rust is not installed. Install rustup from https://rustup.rs, then run make again."
  exit 1
fi

toolchain=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
if ! rustup toolchain list | grep -q "^$toolchain"; then
  say "installing Rust $toolchain (rust-toolchain.toml)"
  rustup toolchain install "$toolchain" --profile minimal --component rustfmt,clippy
fi
if ! rustup target list --installed --toolchain "$toolchain" | grep -qx wasm32-unknown-unknown; then
  say "installing the wasm32-unknown-unknown target for Rust $toolchain (contracts compile to it)"
  rustup target add wasm32-unknown-unknown --toolchain "$toolchain"
fi

# Debian packages the build needs: C and C++ compilers for the -sys crates
# (RocksDB is C++), and libclang, which RocksDB's bindings generator loads.
missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc)
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
# bindgen loads libclang.so or libclang-<version>.so; libclang-cpp.so, which
# other packages bring, is a different library and does not do.
has_libclang() {
  local dir file
  for dir in /usr/lib/llvm-*/lib /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib; do
    for file in "$dir"/libclang.so* "$dir"/libclang-[0-9]*.so*; do
      [ -e "$file" ] && return 0
    done
  done
  return 1
}
if [ -z "${LIBCLANG_PATH:-}" ] && ! has_libclang; then
  missing+=(libclang-dev)
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  # apt's progress goes to a log, shown only if the install fails.
  log=$(mktemp "${TMPDIR:-/tmp}/cairn-setup-apt.XXXXXX")
  if ! { "${sudo[@]}" apt-get update -qq &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log"
    say "installing ${missing[*]} failed (above)"
    exit 1
  fi
  rm -f "$log"
  say "installed ${missing[*]}"
fi
