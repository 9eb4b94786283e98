#!/usr/bin/env bash
# Figure 7's network half: a fresh four-node local network, then
# `cairn-testnet bench` (signed transactions from several accounts to every
# node, timed from submission to receipt), three runs, then shut down.
#
#   scripts/bench-testnet.sh path/to/release/bin
set -euo pipefail
bin=${1:?usage: bench-testnet.sh path/to/release/bin}
dir=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench-testnet.XXXXXX")
cleanup() {
  "$bin/cairn-testnet" --dir "$dir" down >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT

"$bin/cairn-testnet" --dir "$dir" up --nodes 4 | tail -n 1
for run in 1 2 3; do
  echo "run $run: 400 transactions from 8 accounts"
  "$bin/cairn-testnet" --dir "$dir" bench --transactions 400 --accounts 8 | tail -n 3
done
echo "run 4: 2000 transactions from 32 accounts"
"$bin/cairn-testnet" --dir "$dir" bench --transactions 2000 --accounts 32 | tail -n 3
rounds=$(cat "$dir"/node*/node.log | grep -c 'committed height=.*round=[1-9]' || true)
echo "heights decided after round 0, over all nodes: $rounds"
