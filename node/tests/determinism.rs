//! Every node computes the same thing. Random blocks of deploys, calls and
//! transfers of native value, built by one chain and re-executed by another
//! (its own RocksDB, and an on-disk artifact cache the first lacks), give
//! the same receipts (fees included), balances and state roots at every
//! height; and any single-bit change of a transaction is refused by both,
//! for the same reason.

use cairn_node::chain::Chain;
use cairn_node::metrics::Metrics;
use cairn_node::test_utils::*;
use cairn_node::types::{Action, Address, Hash, SignedTransaction, contract_address};
use parity_scale_codec::Encode;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    /// A counter with this limit.
    Deploy { sender: u8, limit: u64 },
    /// `increment(amount)` on one of the contracts deployed so far (or on
    /// an address with no contract).
    Increment { sender: u8, target: u8, amount: u64 },
    /// Any method name, any input.
    Call {
        sender: u8,
        target: u8,
        method: String,
        input: Vec<u8>,
    },
    /// A call given a few hundred gas beyond its intrinsic cost: it runs
    /// out.
    Starved { sender: u8, target: u8, extra: u64 },
    /// Native value to another sender or to a contract.
    Transfer { sender: u8, target: u8, value: u128 },
    /// The leader builds a block, the follower verifies it, both commit.
    EndBlock,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => (0u8..3, 0u64..500).prop_map(|(sender, limit)| Step::Deploy { sender, limit }),
        4 => (0u8..3, any::<u8>(), 0u64..100)
            .prop_map(|(sender, target, amount)| Step::Increment { sender, target, amount }),
        2 => (
            0u8..3,
            any::<u8>(),
            prop::sample::select(vec!["get", "increment", "reset", "limit", "nope", "memory"]),
            prop::collection::vec(any::<u8>(), 0..12),
        )
            .prop_map(|(sender, target, method, input)| Step::Call {
                sender,
                target,
                method: method.into(),
                input,
            }),
        1 => (0u8..3, any::<u8>(), 0u64..2_000)
            .prop_map(|(sender, target, extra)| Step::Starved { sender, target, extra }),
        2 => (0u8..3, any::<u8>(), 0u128..1_000_000)
            .prop_map(|(sender, target, value)| Step::Transfer { sender, target, value }),
        2 => Just(Step::EndBlock),
    ]
}

struct Network {
    leader: Chain,
    follower: Chain,
    nonces: [u64; 3],
    contracts: Vec<Address>,
    submitted: Vec<Hash>,
    _dirs: [tempfile::TempDir; 3],
}

impl Network {
    fn new() -> Self {
        let dirs = [(); 3].map(|()| tempfile::tempdir().unwrap());
        let leader = open(dirs[0].path());
        let follower = Chain::open(
            genesis(),
            &config(dirs[1].path(), Some(dirs[2].path().to_path_buf())),
            Metrics::default(),
        )
        .unwrap();
        Network {
            leader,
            follower,
            nonces: [0; 3],
            contracts: Vec::new(),
            submitted: Vec::new(),
            _dirs: dirs,
        }
    }

    fn target(&self, target: u8) -> Address {
        // One target in eight has no contract: deployed addresses are
        // hashes, never a repeated byte.
        if self.contracts.is_empty() || target % 8 == 7 {
            Address([target; 32])
        } else {
            self.contracts[usize::from(target) % self.contracts.len()]
        }
    }

    /// Submits to both chains: they must give the same answer.
    fn submit(&mut self, sender: u8, tx: &SignedTransaction) {
        let bytes = tx.encode();
        let leader = self.leader.submit(&bytes).map(|(hash, _)| hash);
        let follower = self.follower.submit(&bytes).map(|(hash, _)| hash);
        assert_eq!(leader, follower);
        if let Ok(hash) = leader {
            if let Action::Deploy { .. } = tx.tx.action {
                self.contracts
                    .push(contract_address(&tx.tx.sender, tx.tx.nonce));
            }
            self.nonces[usize::from(sender)] += 1;
            self.submitted.push(hash);
        }
    }

    fn apply(&mut self, step: Step) {
        let nonce = |network: &Self, sender: u8| network.nonces[usize::from(sender)];
        match step {
            Step::Deploy { sender, limit } => {
                let tx = deploy(&user(sender + 10), nonce(self, sender), limit);
                self.submit(sender, &tx);
            }
            Step::Increment {
                sender,
                target,
                amount,
            } => {
                let tx = call(
                    &user(sender + 10),
                    nonce(self, sender),
                    self.target(target),
                    "increment",
                    amount.encode(),
                );
                self.submit(sender, &tx);
            }
            Step::Call {
                sender,
                target,
                method,
                input,
            } => {
                let tx = call(
                    &user(sender + 10),
                    nonce(self, sender),
                    self.target(target),
                    &method,
                    input,
                );
                self.submit(sender, &tx);
            }
            Step::Starved {
                sender,
                target,
                extra,
            } => {
                let key = user(sender + 10);
                let action = Action::Call {
                    contract: self.target(target),
                    method: "increment".into(),
                    input: 1u64.encode(),
                };
                // The gas limit's encoding has a fixed width, so the
                // intrinsic cost of the draft is the final one's.
                let draft = sign(&key, nonce(self, sender), 0, action.clone());
                let intrinsic = self
                    .leader
                    .params()
                    .intrinsic_gas(&draft.tx, draft.encoded_len());
                let tx = sign(&key, nonce(self, sender), intrinsic + extra, action);
                self.submit(sender, &tx);
            }
            Step::Transfer {
                sender,
                target,
                value,
            } => {
                let to = if target % 2 == 0 {
                    address(&user(10 + target % 3))
                } else {
                    self.target(target)
                };
                let tx = transfer(&user(sender + 10), nonce(self, sender), to, value);
                self.submit(sender, &tx);
            }
            Step::EndBlock => {
                advance(&self.leader, &self.follower);
                assert_eq!(
                    sum_of_balances(&self.leader),
                    self.leader.chain_state().unwrap().total_supply
                );
            }
        }
    }

    /// Every transaction has the same receipt on both chains.
    fn assert_same_receipts(&self) {
        for hash in &self.submitted {
            let leader = self.leader.store().receipt(hash).unwrap();
            let follower = self.follower.store().receipt(hash).unwrap();
            assert!(
                leader.is_some(),
                "transaction {} not included",
                hex::encode(hash)
            );
            assert_eq!(leader, follower);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_blocks_reach_the_same_roots_on_two_executors(
        steps in prop::collection::vec(step(), 1..40)
    ) {
        let mut network = Network::new();
        for step in steps {
            network.apply(step);
        }
        // Nonces run without gaps, so everything admitted goes into the
        // next blocks.
        for _ in 0..4 {
            advance(&network.leader, &network.follower);
            if network.leader.mempool_len() == 0 {
                break;
            }
        }
        network.assert_same_receipts();
        prop_assert_eq!(network.leader.head(), network.follower.head());
    }
}

/// Flips every bit of a call (and every seventh of a deploy) in turn: each
/// changed transaction has another hash if it decodes at all, and both
/// chains refuse it with the same error. The unchanged ones then execute
/// to the same root.
#[test]
fn every_single_bit_change_of_a_transaction_is_refused_everywhere() {
    let mut network = Network::new();
    network.apply(Step::Deploy {
        sender: 0,
        limit: 1_000,
    });
    network.apply(Step::EndBlock);
    let counter = network.contracts[0];
    let alice = user(10);
    let transactions = [
        (call(&alice, 1, counter, "increment", 5u64.encode()), 1),
        (deploy(&alice, 2, 7), 7),
    ];
    for (tx, stride) in &transactions {
        let original = tx.encode();
        for bit in (0..original.len() * 8).step_by(*stride) {
            let mut flipped = original.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let leader = network.leader.submit(&flipped).map(|(hash, _)| hash);
            let follower = network.follower.submit(&flipped).map(|(hash, _)| hash);
            assert_eq!(leader, follower, "bit {bit}");
            assert!(leader.is_err(), "bit {bit} of {tx:?} flipped was admitted");
            if let Ok(decoded) = SignedTransaction::decode_checked(&flipped) {
                assert_ne!(decoded.hash(), tx.hash(), "bit {bit}");
            }
        }
    }
    for (tx, _) in &transactions {
        network.submit(0, tx);
    }
    network.apply(Step::EndBlock);
    network.assert_same_receipts();
    assert_eq!(network.contracts.len(), 2);
}
