#!/usr/bin/env bash
# Figure 7's network half: a fresh four-node local network, then
# `cairn-testnet bench` (signed transactions from several accounts to every
# node, submitted several at a time, each timed from submission to the
# receipt its node pushes on a subscription), then shut down. Then the
# same at a target block time of 0 ms, which shows what the default
# 100 ms costs.
#
#   scripts/bench-testnet.sh path/to/release/bin
set -euo pipefail
bin=${1:?usage: bench-testnet.sh path/to/release/bin}
dir=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench-testnet.XXXXXX")
down() {
  "$bin/cairn-testnet" --dir "$dir" down --clean >/dev/null 2>&1 || true
}
trap 'down; rm -rf "$dir"' EXIT

bench() {
  "$bin/cairn-testnet" --dir "$dir" bench "$@" | tail -n 3
}
rounds() {
  local rounds
  rounds=$(cat "$dir"/node*/node.log | grep -c 'committed height=.*round=[1-9]' || true)
  echo "heights decided after round 0, over all nodes: $rounds"
}

"$bin/cairn-testnet" --dir "$dir" up --nodes 4 | tail -n 1
for run in 1 2 3; do
  echo "run $run: 400 transactions from 8 accounts"
  bench --transactions 400 --accounts 8
done
echo "run 4: 2000 transactions from 32 accounts"
bench --transactions 2000 --accounts 32
echo "run 5 (fixed load): 2000 transactions from 32 accounts at 400 tx/s"
bench --transactions 2000 --accounts 32 --rate 400
echo "run 6 (saturated): 4000 transactions from 64 accounts, 64 at a time"
bench --transactions 4000 --accounts 64 --concurrency 64
rounds
down

"$bin/cairn-testnet" --dir "$dir" up --nodes 4 --target-block-time-ms 0 | tail -n 1
for run in 1 2 3; do
  echo "run $run at a target block time of 0 ms: 400 transactions from 8 accounts"
  bench --transactions 400 --accounts 8
done
echo "run 4 at 0 ms (fixed load): 2000 transactions from 32 accounts at 400 tx/s"
bench --transactions 2000 --accounts 32 --rate 400
echo "run 5 at 0 ms (light load): 400 transactions from 8 accounts at 50 tx/s"
bench --transactions 400 --accounts 8 --rate 50
rounds
