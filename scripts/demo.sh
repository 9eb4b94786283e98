#!/usr/bin/env bash
# The tour of Cairn: a real four-node network on this machine, contracts
# built, deployed and called through different nodes, a node stopped and
# brought back. Each step says what it shows and prints the command it runs.
set -euo pipefail
bin=${1:?usage: demo.sh path/to/release/bin}
cd "$(dirname "$0")/.."

bold=$'\033[1m'; dim=$'\033[2m'; reset=$'\033[0m'
step() { printf '\n%s== %s ==%s\n' "$bold" "$1" "$reset"; shift; printf '%s\n' "$@"; }
show() { printf '%s$ %s%s\n' "$dim" "$*" "$reset"; }
run() { show "$@"; "$@"; }

dir=${CAIRN_DEMO_DIR:-$PWD/.cairn-demo}
cleanup() { "$bin/cairn-testnet" --dir "$dir" down >/dev/null 2>&1 || true; }
trap cleanup EXIT

if [ -e "$dir" ]; then "$bin/cairn-testnet" --dir "$dir" down --clean >/dev/null; fi
contracts=$dir-contracts
rm -rf "$contracts"; mkdir -p "$contracts"

step "1. Build the example contracts" \
  "cargo-cairn compiles a contract crate for wasm32-unknown-unknown, checks the result" \
  "against the VM's deterministic subset, shrinks it and writes its ABI beside it."
for name in token counter; do
  run "$bin/cargo-cairn" build --manifest-path "contracts-sdk/examples/$name/Cargo.toml" --out-dir "$contracts"
done

step "2. Start a local network" \
  "Four validator processes with real BFT consensus (Malachite), each with its own" \
  "RocksDB, talking over libp2p on loopback. 'up' waits for the first finalized block."
start=$(date +%s%3N)
run "$bin/cairn-testnet" --dir "$dir" up --nodes 4
up_done=$(date +%s%3N)
rpc() { "$bin/cairn-testnet" --dir "$dir" rpc "$1"; }
alice=$dir/accounts/dev0.json
bob=$dir/accounts/dev1.json
bob_address=$("$bin/cairn" keys show "$bob")
node0=$(rpc 0); node1=$(rpc 1); node2=$(rpc 2); node3=$(rpc 3)

step "3. Deploy a token through node 0" \
  "The deploy transaction is signed with a developer key, sent to node 0, gossiped to" \
  "every node and included in a block; every validator executes it."
run "$bin/cairn" --rpc "$node0" deploy "$contracts/token.wasm" --key "$alice" \
  --args '["Cairn Token", "CRN", 6, 1000000000]' | tee "$dir/token.out"
deployed=$(date +%s%3N)
token=$(sed -n 's/^deployed .* at \([0-9a-f]*\)$/\1/p' "$dir/token.out")

step "4. Transfer through node 0, read the balance from node 3" \
  "A transaction sent to one node changes the state every node holds."
run "$bin/cairn" --rpc "$node0" call "$token" transfer "[\"$bob_address\", 2500]" --key "$alice"
run "$bin/cairn" --rpc "$node3" query "$token" balance_of "[\"$bob_address\"]"

step "5. Send the native token and pay a fee" \
  "The developer accounts were funded at genesis. A transfer pays for the gas it uses at" \
  "its gas price: the base fee's part is burned, the rest goes to the block's proposer."
run "$bin/cairn" --rpc "$node0" gas-price
run "$bin/cairn" --rpc "$node0" transfer "$bob_address" 1000000 --key "$alice"
run "$bin/cairn" --rpc "$node2" balance "$bob_address"
run "$bin/cairn" --rpc "$node2" status

step "6. A second contract, called through node 1 and node 2" \
  "A counter with a limit: increments through two different nodes, read through a third."
run "$bin/cairn" --rpc "$node1" deploy "$contracts/counter.wasm" --key "$bob" --args '[100]' | tee "$dir/counter.out"
counter=$(sed -n 's/^deployed .* at \([0-9a-f]*\)$/\1/p' "$dir/counter.out")
run "$bin/cairn" --rpc "$node1" call "$counter" increment '[5]' --key "$bob"
run "$bin/cairn" --rpc "$node2" call "$counter" increment '[7]' --key "$alice"
run "$bin/cairn" --rpc "$node3" query "$counter" get

step "7. Every node has the same state" \
  "Each block commits a state root over all contract storage, accounts and balances; 'status'" \
  "compares the roots the nodes hold for the same height."
run "$bin/cairn-testnet" --dir "$dir" status

step "8. Crash a node and keep going" \
  "node2 is killed with SIGKILL. Three of four validators are still more than two" \
  "thirds of the voting power, so blocks keep being finalized."
run "$bin/cairn-testnet" --dir "$dir" stop 2 --kill
run "$bin/cairn" --rpc "$node1" call "$token" transfer "[\"$bob_address\", 500]" --key "$alice"
run "$bin/cairn-testnet" --dir "$dir" status

step "9. Bring it back" \
  "node2 restarts from its own database (nothing committed is lost) and fetches the" \
  "blocks it missed from its peers."
run "$bin/cairn-testnet" --dir "$dir" start 2
run "$bin/cairn-testnet" --dir "$dir" wait 2
run "$bin/cairn" --rpc "$node2" query "$token" balance_of "[\"$bob_address\"]"
run "$bin/cairn-testnet" --dir "$dir" status

step "10. Shut down" "Every node process is stopped; --clean deletes the network's directory."
run "$bin/cairn-testnet" --dir "$dir" down --clean
rm -rf "$contracts"
trap - EXIT

printf '\n%sTimes:%s first finalized block %d ms after "up", first contract deployed after %d ms.\n' \
  "$bold" "$reset" "$((up_done - start))" "$((deployed - start))"
