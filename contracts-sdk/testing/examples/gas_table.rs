//! Prints the size of every example contract and the gas of its methods,
//! as a Markdown table: `cargo run -p cairn-sdk-testing --example gas_table`.

use cairn_sdk::Address;
use cairn_sdk_testing::{Receipt, TestChain};

const COUNTER: &[u8] = include_bytes!("../../testdata/counter.wasm");
const TOKEN: &[u8] = include_bytes!("../../testdata/token.wasm");
const ESCROW: &[u8] = include_bytes!("../../testdata/escrow.wasm");
const HASHER: &[u8] = include_bytes!("../../testdata/hasher.wasm");

fn row(contract: &str, what: &str, receipt: &Receipt) {
    assert!(receipt.is_ok(), "{contract} {what}: {receipt}");
    println!("| {contract} | {what} | {} |", receipt.gas_used);
}

fn main() {
    println!("| contract | bytes |\n|---|---:|");
    for (name, code) in [
        ("counter", COUNTER),
        ("token", TOKEN),
        ("escrow", ESCROW),
        ("hasher", HASHER),
    ] {
        println!("| {name} | {} |", code.len());
    }
    println!("\n| contract | call | gas |\n|---|---|---:|");

    let mut chain = TestChain::new();
    let (alice, bob) = (chain.account("alice"), chain.account("bob"));

    let counter = chain.deploy(alice, COUNTER, (1_000u64,));
    row("counter", "init(1000)", &counter.init);
    row(
        "counter",
        "increment(1), first",
        &chain.call(alice, counter.address, "increment", (1u64,)),
    );
    row(
        "counter",
        "increment(1), again",
        &chain.call(alice, counter.address, "increment", (1u64,)),
    );
    row(
        "counter",
        "get() (query)",
        &chain.query(counter.address, "get", ()),
    );

    let token = chain.deploy(
        alice,
        TOKEN,
        ("Cairn".to_owned(), "CRN".to_owned(), 6u8, 1_000_000u128),
    );
    let t = token.address;
    row("token", "init (mints the supply)", &token.init);
    row(
        "token",
        "transfer to a new holder",
        &chain.call(alice, t, "transfer", (bob, 100u128)),
    );
    row(
        "token",
        "transfer to a holder",
        &chain.call(alice, t, "transfer", (bob, 100u128)),
    );
    row(
        "token",
        "approve",
        &chain.call(alice, t, "approve", (bob, 500u128)),
    );
    row(
        "token",
        "transfer_from",
        &chain.call(bob, t, "transfer_from", (alice, bob, 100u128)),
    );
    row(
        "token",
        "balance_of (query)",
        &chain.query(t, "balance_of", (alice,)),
    );
    for index in 0..20u8 {
        chain.call(alice, t, "transfer", (Address([index; 32]), 1u128));
    }
    row(
        "token",
        "holders(None, 20) (query)",
        &chain.query(t, "holders", (None::<Address>, 20u32)),
    );

    let escrow = chain.deploy(bob, ESCROW, (t,));
    let e = escrow.address;
    row("escrow", "init", &escrow.init);
    chain.call(alice, t, "approve", (e, 1_000u128));
    row(
        "escrow",
        "open (calls token.transfer_from)",
        &chain.call(alice, e, "open", (bob, 300u128, 0u64)),
    );
    row(
        "escrow",
        "release (calls token.transfer)",
        &chain.call(alice, e, "release", (0u64,)),
    );
    row(
        "escrow",
        "open refused by the token",
        &chain.call(bob, e, "open", (alice, 10u128, 0u64)),
    );
    row(
        "escrow",
        "open_native (holds the attached value)",
        &chain.call_with_value(alice, e, "open_native", (bob, 0u64), 500),
    );
    row(
        "escrow",
        "release (a native transfer)",
        &chain.call(alice, e, "release", (1u64,)),
    );

    let hasher = chain.deploy(alice, HASHER, ());
    row(
        "hasher",
        "hash_chain(seed, 1000)",
        &chain.call(alice, hasher.address, "hash_chain", ([1u8; 32], 1_000u32)),
    );
    row(
        "hasher",
        "sort(10000, 7) (query)",
        &chain.query(hasher.address, "sort", (10_000u32, 7u64)),
    );
}
