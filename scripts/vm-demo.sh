#!/usr/bin/env bash
# A short tour of Cairn's VM through its command line. Each step says what
# it shows, prints the command, and prints the VM's JSON answer.
set -euo pipefail
cairn_vm=${1:?usage: demo.sh path/to/cairn-vm}
cd "$(dirname "$0")/.."

bold=$'\033[1m'; dim=$'\033[2m'; reset=$'\033[0m'
step() { printf '\n%s== %s ==%s\n' "$bold" "$1" "$reset"; shift; printf '%s\n' "$@"; }
run() { printf '%s$ cairn-vm %s%s\n' "$dim" "$*" "$reset"; "$cairn_vm" "$@"; }

step "1. Check a contract" \
  "vm/testdata/counter.wat keeps a counter in storage. 'check' validates it against" \
  "Cairn's deterministic subset of WebAssembly and lists its entry points."
run check vm/testdata/counter.wat

step "2. Deploy it into memory storage and call it" \
  "'run' validates, meters (gas per basic block, injected into the wasm), compiles with" \
  "wasmer's single-pass compiler and calls 'increment' three times against the same" \
  "in-memory storage. Each call prints its status, the gas it used, its output" \
  "(the new count, a little-endian u64 in hex), the event it emitted and its write."
run run vm/testdata/counter.wat --entry increment --repeat 3

step "3. A read-only query" \
  "Queries run with writes forbidden; 'get' only reads, so it succeeds."
run run vm/testdata/counter.wat --entry get --read-only

step "4. An infinite loop is stopped by gas" \
  "vm/testdata/infinite_loop.wat never returns. Gas is charged before each basic block" \
  "runs, so the call stops at its limit (10^10 gas by default, well under a second)" \
  "and reports out_of_gas with exactly the limit used, the same on every machine."
start=$(date +%s%N)
run run vm/testdata/infinite_loop.wat --entry spin
printf '%s(stopped after %d ms)%s\n' "$dim" $(( ($(date +%s%N) - start) / 1000000 )) "$reset"

step "5. Floating point is rejected, with the reason" \
  "NaN bit patterns differ between CPUs, so a module using f32/f64 is refused at" \
  "upload; the error names the feature, the instruction and where it is."
run check vm/testdata/float.wat

step "6. What stable rustc emits is accepted" \
  "vm/testdata/rust_contract.wasm is a small no_std Rust contract compiled with the" \
  "default wasm32 target features (bulk memory, sign extension, call_indirect...)." \
  "Its input here: credit (00) 5 (05) to 'alice'."
run run vm/testdata/rust_contract.wasm --entry apply --input 0005616c696365

printf '\n%sDone.%s Next: docs/ABI.md for the host functions, README.md for the layout.\n' "$bold" "$reset"
