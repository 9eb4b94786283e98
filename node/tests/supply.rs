//! The native token is conserved. Random sequences of transfers, deposits
//! into and payouts from a contract (the escrow example), value sent to
//! methods that refuse it, calls that run out of gas and transactions
//! their senders cannot pay for, at several gas prices, go to two chains
//! in different orders; each builds its own blocks. At every height, on
//! both, every balance added up is the recorded supply, and the supply is
//! the genesis supply less what fees burned; every receipt's fee is its gas
//! used times its price, and its burn the gas used times the base fee.

use cairn_node::chain::Chain;
use cairn_node::test_utils::*;
use cairn_node::types::{Action, Address, SignedTransaction, contract_address};
use parity_scale_codec::{Decode, Encode};
use proptest::prelude::*;

/// Users 20 to 23 send; the escrow is deployed by user 30.
const SENDERS: u8 = 4;

#[derive(Debug, Clone)]
enum Step {
    /// A transfer to another sender, the escrow, or an address nobody
    /// uses.
    Transfer {
        from: u8,
        to: u8,
        value: u128,
        price: u64,
    },
    /// `open_native` with value: the escrow holds it.
    Deposit {
        from: u8,
        seller: u8,
        value: u128,
        price: u64,
    },
    /// `release` or `refund` of a deal: pays out, or fails if the caller
    /// may not.
    Close {
        from: u8,
        deal: u8,
        release: bool,
    },
    /// Value sent to `held`, which is not payable: aborted, value kept.
    Refused {
        from: u8,
        value: u128,
    },
    /// A deposit given too little gas: out of gas, value kept, fee paid.
    Starved {
        from: u8,
        value: u128,
        extra: u64,
    },
    /// More value than the sender holds: refused at the door.
    Overspend {
        from: u8,
    },
    EndBlock,
}

fn step() -> impl Strategy<Value = Step> {
    let price = prop::sample::select(vec![GAS_PRICE, GAS_PRICE + 1, 3 * GAS_PRICE]);
    let from = 0..SENDERS;
    prop_oneof![
        3 => (from.clone(), 0u8..6, 0u128..1_000_000, price.clone())
            .prop_map(|(from, to, value, price)| Step::Transfer { from, to, value, price }),
        3 => (from.clone(), 0..SENDERS, 1u128..1_000_000, price)
            .prop_map(|(from, seller, value, price)| Step::Deposit { from, seller, value, price }),
        2 => (from.clone(), 0u8..8, any::<bool>())
            .prop_map(|(from, deal, release)| Step::Close { from, deal, release }),
        1 => (from.clone(), 1u128..1_000)
            .prop_map(|(from, value)| Step::Refused { from, value }),
        1 => (from.clone(), 1u128..1_000, 0u64..50_000)
            .prop_map(|(from, value, extra)| Step::Starved { from, value, extra }),
        1 => from.prop_map(|from| Step::Overspend { from }),
        2 => Just(Step::EndBlock),
    ]
}

fn sender(index: u8) -> cairn_node::keys::PrivateKey {
    user(20 + index)
}

/// One chain and what it was sent.
struct Node {
    chain: Chain,
    submitted: Vec<SignedTransaction>,
    _dir: tempfile::TempDir,
}

impl Node {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Node {
            chain: open(dir.path()),
            submitted: Vec::new(),
            _dir: dir,
        }
    }

    /// Builds and commits the next block; checks the supply at its height
    /// and the fees of its receipts.
    fn end_block(&self) {
        commit_next(&self.chain);
        self.check_supply();
    }

    fn check_supply(&self) {
        let state = self.chain.chain_state().unwrap();
        assert_eq!(
            sum_of_balances(&self.chain),
            state.total_supply,
            "height {}",
            self.chain.head().height
        );
        assert_eq!(state.total_supply + state.burned, genesis_supply());
        let height = self.chain.head().height;
        let block = self.chain.store().block(height).unwrap().unwrap();
        for tx in &block.transactions {
            let (_, receipt) = self.chain.store().receipt(&tx.hash()).unwrap().unwrap();
            let used = u128::from(receipt.gas_used);
            assert_eq!(receipt.fee, used * u128::from(tx.tx.gas_price));
            assert!(receipt.burned <= receipt.fee);
            assert_eq!(receipt.burned % used.max(1), 0);
            assert!(receipt.value == tx.tx.value || (!receipt.is_ok() && receipt.value == 0));
        }
    }
}

struct Network {
    nodes: [Node; 2],
    nonces: [u64; SENDERS as usize],
    escrow: Address,
    /// This block's transactions, submitted at its end: to one chain in
    /// order, to the other with the senders in reverse order (each
    /// sender's own still in nonce order, as its client sends them).
    pending: Vec<SignedTransaction>,
}

impl Network {
    fn new() -> Self {
        let nodes = [Node::new(), Node::new()];
        let deployer = user(30);
        let deploy = sign(
            &deployer,
            0,
            DEPLOY_GAS,
            Action::Deploy {
                code: ESCROW.to_vec(),
                abi: ESCROW_ABI.to_vec(),
                init_input: Address([0; 32]).encode(),
            },
        );
        for node in &nodes {
            submit(&node.chain, &deploy).unwrap();
            node.end_block();
        }
        let escrow = contract_address(&address(&deployer), 0);
        for node in &nodes {
            assert!(node.chain.contract(&escrow).unwrap().is_some());
        }
        Network {
            nodes,
            nonces: [0; SENDERS as usize],
            escrow,
            pending: Vec::new(),
        }
    }

    fn to(&self, to: u8) -> Address {
        match to {
            0..SENDERS => address(&sender(to)),
            4 => self.escrow,
            _ => Address([0xee; 32]),
        }
    }

    fn escrow_call(
        &mut self,
        from: u8,
        method: &str,
        input: Vec<u8>,
        gas: u64,
        price: u64,
        value: u128,
    ) {
        let action = Action::Call {
            contract: self.escrow,
            method: method.into(),
            input,
        };
        self.queue(from, gas, price, value, action);
    }

    fn queue(&mut self, from: u8, gas: u64, price: u64, value: u128, action: Action) {
        let nonce = &mut self.nonces[usize::from(from)];
        let tx = TEST_CHAIN.sign_with(&sender(from), *nonce, gas, price, value, action);
        *nonce += 1;
        self.pending.push(tx);
    }

    fn apply(&mut self, step: Step) {
        match step {
            Step::Transfer {
                from,
                to,
                value,
                price,
            } => {
                let to = self.to(to);
                self.queue(from, TRANSFER_GAS, price, value, Action::Transfer { to });
            }
            Step::Deposit {
                from,
                seller,
                value,
                price,
            } => {
                let input = (address(&sender(seller)), 0u64).encode();
                self.escrow_call(from, "open_native", input, CALL_GAS, price, value);
            }
            Step::Close {
                from,
                deal,
                release,
            } => {
                let method = if release { "release" } else { "refund" };
                let input = u64::from(deal).encode();
                self.escrow_call(from, method, input, CALL_GAS, GAS_PRICE, 0);
            }
            Step::Refused { from, value } => {
                self.escrow_call(from, "held", Vec::new(), CALL_GAS, GAS_PRICE, value);
            }
            Step::Starved { from, value, extra } => {
                let input = (address(&sender(0)), 0u64).encode();
                let draft = TEST_CHAIN.sign_with(
                    &sender(from),
                    0,
                    0,
                    GAS_PRICE,
                    value,
                    Action::Call {
                        contract: self.escrow,
                        method: "open_native".into(),
                        input: input.clone(),
                    },
                );
                let intrinsic = self.nodes[0]
                    .chain
                    .params()
                    .intrinsic_gas(&draft.tx, draft.encoded_len());
                self.escrow_call(
                    from,
                    "open_native",
                    input,
                    intrinsic + extra,
                    GAS_PRICE,
                    value,
                );
            }
            Step::Overspend { from } => {
                let to = self.to(4);
                self.queue(
                    from,
                    TRANSFER_GAS,
                    GAS_PRICE,
                    USER_BALANCE * 3,
                    Action::Transfer { to },
                );
                // Refused everywhere, so its nonce stays free.
                self.nonces[usize::from(from)] -= 1;
            }
            Step::EndBlock => self.end_block(),
        }
    }

    fn end_block(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let orders = [pending.clone(), senders_reversed(&pending)];
        for (node, transactions) in self.nodes.iter_mut().zip(orders) {
            for tx in transactions {
                // The same refusals on both, whatever the order: a refused
                // transaction is one its sender cannot pay for.
                if submit(&node.chain, &tx).is_ok() {
                    node.submitted.push(tx);
                }
            }
            node.end_block();
        }
    }
}

/// `transactions` with the senders' turns reversed: the last sender to
/// appear first, each sender's transactions in their own order.
fn senders_reversed(transactions: &[SignedTransaction]) -> Vec<SignedTransaction> {
    let mut senders: Vec<Address> = Vec::new();
    for tx in transactions {
        if !senders.contains(&tx.tx.sender) {
            senders.push(tx.tx.sender);
        }
    }
    senders
        .iter()
        .rev()
        .flat_map(|sender| {
            transactions
                .iter()
                .filter(move |tx| tx.tx.sender == *sender)
        })
        .cloned()
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn balances_add_up_to_the_genesis_supply_less_the_burned_fees_in_any_order(
        steps in prop::collection::vec(step(), 1..40)
    ) {
        let mut network = Network::new();
        for step in steps {
            network.apply(step);
        }
        network.end_block();
        // Everything admitted is included within a few blocks: nonces run
        // without gaps and every price is above the base fee.
        for _ in 0..4 {
            for node in &network.nodes {
                if node.chain.mempool_len() > 0 {
                    node.end_block();
                }
            }
        }
        for node in &network.nodes {
            prop_assert_eq!(node.chain.mempool_len(), 0);
            for tx in &node.submitted {
                prop_assert!(node.chain.store().receipt(&tx.hash()).unwrap().is_some());
            }
            node.check_supply();
            // The escrow holds exactly what its open native deals owe.
            let held = node.chain.query(&network.escrow, "held", &[], CALL_GAS).unwrap();
            let held = u128::decode(&mut &held.outcome.output[..]).unwrap();
            let account = node.chain.store().snapshot().account(&network.escrow).unwrap();
            prop_assert_eq!(held, account.balance);
        }
    }
}
