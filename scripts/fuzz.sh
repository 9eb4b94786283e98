#!/usr/bin/env bash
# Runs each cargo-fuzz target of fuzz/ for a bounded time and reports, per
# target, the executions, executions per second and any crash.
#
#   scripts/fuzz.sh [TARGET...]       (make fuzz: every target)
#
# FUZZ_SECONDS     seconds per target (default 60)
# FUZZ_TOOLCHAIN   the nightly toolchain cargo-fuzz builds with (default nightly)
# FUZZ_SANITIZER   none (default: wasmer's own signal handling and its
#                  stack switching do not mix well with ASan, and the VM is
#                  safe Rust outside two audited modules) or address
# FUZZ_TIMEOUT     seconds one input may take before it counts as a hang (default 20)
# FUZZ_RSS_MB      memory limit of a run in MiB (default 4096)
# FUZZ_BUILD_ONLY  1: build every target, run none (CI builds under a deadline)
#
# Seeds come from fuzz/corpus/<target>/ (read only); what libFuzzer finds
# goes to a scratch corpus under the target directory, so the next run
# continues from it. A crash input is written to fuzz/artifacts/<target>/;
# to make it a regression test, copy it into fuzz/corpus/<target>/
# (fuzz/lib/tests/corpus.rs runs every seed under `cargo test`).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[fuzz]\033[0m %s\n' "$*"; }

seconds=${FUZZ_SECONDS:-60}
toolchain=${FUZZ_TOOLCHAIN:-nightly}
sanitizer=${FUZZ_SANITIZER:-none}
timeout=${FUZZ_TIMEOUT:-20}
rss_mb=${FUZZ_RSS_MB:-4096}
target_dir="${CARGO_TARGET_DIR:-$HOME/.cache/cairn/target}/fuzz"
work="$target_dir/work"

if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
  say "cargo-fuzz needs a nightly Rust toolchain ('$toolchain' is not installed):"
  say "  rustup toolchain install nightly --profile minimal"
  exit 1
fi
if ! cargo "+$toolchain" fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  cargo "+$toolchain" install cargo-fuzz --locked
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for file in fuzz/fuzz_targets/*.rs; do
    name=$(basename "$file" .rs)
    targets+=("$name")
  done
fi

# cargo-fuzz's build flags: release, debug assertions and overflow checks,
# coverage instrumentation; `run` below passes the same ones, so it reuses
# this build.
flags=(--sanitizer "$sanitizer" --debug-assertions --target-dir "$target_dir")
say "building every target with $(cargo "+$toolchain" fuzz --version) on $(rustc "+$toolchain" --version)"
(cd fuzz && cargo "+$toolchain" fuzz build "${flags[@]}" 2>&1 | tail -n 3)
if [ "${FUZZ_BUILD_ONLY:-0}" = 1 ]; then
  exit 0
fi

mkdir -p "$work"
results=()
failed=0
for target in "${targets[@]}"; do
  corpus="$work/corpus/$target"
  log="$work/$target.log"
  mkdir -p "$corpus" "fuzz/artifacts/$target"
  say "$target: ${seconds}s (seeds fuzz/corpus/$target, corpus $corpus, log $log)"
  status=0
  (cd fuzz && cargo "+$toolchain" fuzz run "${flags[@]}" "$target" "$corpus" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss_mb" \
    -print_final_stats=1 -print_pcs=0 >"$log" 2>&1) || status=$?
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  per_second=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
  coverage=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2 || true)
  if [ "$status" -eq 0 ]; then
    result=ok
  else
    failed=1
    crash=$(sed -n 's/.*Test unit written to \(.*\)/\1/p' "$log" | tail -n 1)
    result="CRASH (exit $status) ${crash:-see $log}"
    grep -m 5 -E "panicked at|ERROR: libFuzzer|==[0-9]+==" "$log" | sed 's/^/    /' || true
  fi
  line=$(printf '%-22s %10s %8s %7s %8s  %s' "$target" "${executions:-?}" "${per_second:-?}" "${coverage:-?}" "${rss:-?}" "$result")
  results+=("$line")
  say "$line"
done

echo
printf '%-22s %10s %8s %7s %8s  %s\n' target executions exec/s cov rss_mb result
for line in "${results[@]}"; do
  echo "$line"
done
echo "(${seconds}s per target, sanitizer $sanitizer)"
exit "$failed"
