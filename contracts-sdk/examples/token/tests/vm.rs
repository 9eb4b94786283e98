//! The token's compiled wasm (contracts-sdk/testdata/token.wasm) on the VM.

use cairn_sdk::Address;
use cairn_sdk_testing::TestChain;
use token::{Approval, TokenError, Transfer};

const CODE: &[u8] = include_bytes!("../../../testdata/token.wasm");

fn deploy(chain: &mut TestChain, owner: Address, supply: u128) -> Address {
    chain
        .deploy(
            owner,
            CODE,
            ("Cairn".to_owned(), "CRN".to_owned(), 6u8, supply),
        )
        .address
}

#[test]
fn metadata_and_the_initial_supply() {
    let mut chain = TestChain::new();
    let alice = chain.account("alice");
    let deployed = chain.deploy(
        alice,
        CODE,
        ("Cairn".to_owned(), "CRN".to_owned(), 6u8, 1_000u128),
    );
    assert_eq!(
        deployed.init.events::<Transfer>(),
        [Transfer {
            from: None,
            to: Some(alice),
            amount: 1_000
        }]
    );
    let token = deployed.address;
    assert_eq!(chain.query(token, "name", ()).value::<String>(), "Cairn");
    assert_eq!(chain.query(token, "symbol", ()).value::<String>(), "CRN");
    assert_eq!(chain.query(token, "decimals", ()).value::<u8>(), 6);
    assert_eq!(
        chain.query(token, "total_supply", ()).value::<u128>(),
        1_000
    );
    assert_eq!(
        chain.query(token, "balance_of", (alice,)).value::<u128>(),
        1_000
    );
}

#[test]
fn transfer_and_its_failures() {
    let mut chain = TestChain::new();
    let (alice, bob) = (chain.account("alice"), chain.account("bob"));
    let token = deploy(&mut chain, alice, 1_000);

    let sent = chain.call(alice, token, "transfer", (bob, 250u128));
    let () = sent.value();
    assert_eq!(
        sent.events::<Transfer>(),
        [Transfer {
            from: Some(alice),
            to: Some(bob),
            amount: 250
        }]
    );
    assert_eq!(
        chain.query(token, "balance_of", (bob,)).value::<u128>(),
        250
    );

    let too_much = chain.call(bob, token, "transfer", (alice, 251u128));
    assert_eq!(
        too_much.error::<TokenError>(),
        TokenError::InsufficientBalance {
            balance: 250,
            needed: 251
        }
    );
    assert!(too_much.events.is_empty() && too_much.writes == 0);
    assert_eq!(
        chain.query(token, "balance_of", (bob,)).value::<u128>(),
        250
    );
}

#[test]
fn allowances_and_transfer_from() {
    let mut chain = TestChain::new();
    let (alice, bob, carol) = (
        chain.account("alice"),
        chain.account("bob"),
        chain.account("carol"),
    );
    let token = deploy(&mut chain, alice, 1_000);

    let approved = chain.call(alice, token, "approve", (bob, 100u128));
    assert_eq!(
        approved.events::<Approval>(),
        [Approval {
            owner: alice,
            spender: bob,
            amount: 100
        }]
    );
    chain
        .call(bob, token, "transfer_from", (alice, carol, 60u128))
        .value::<()>();
    assert_eq!(
        chain
            .query(token, "allowance", (alice, bob))
            .value::<u128>(),
        40
    );
    assert_eq!(
        chain.query(token, "balance_of", (carol,)).value::<u128>(),
        60
    );

    let over = chain.call(bob, token, "transfer_from", (alice, carol, 41u128));
    assert_eq!(
        over.error::<TokenError>(),
        TokenError::InsufficientAllowance {
            allowance: 40,
            needed: 41
        }
    );
    // Carol has no allowance from Alice at all.
    let none = chain.call(carol, token, "transfer_from", (alice, carol, 1u128));
    assert_eq!(
        none.error::<TokenError>(),
        TokenError::InsufficientAllowance {
            allowance: 0,
            needed: 1
        }
    );
}

#[test]
fn minting_is_for_the_creator_and_cannot_overflow() {
    let mut chain = TestChain::new();
    let (alice, bob) = (chain.account("alice"), chain.account("bob"));
    let token = deploy(&mut chain, alice, u128::MAX - 10);
    assert_eq!(
        chain
            .call(bob, token, "mint", (bob, 1u128))
            .error::<TokenError>(),
        TokenError::NotMinter
    );
    chain
        .call(alice, token, "mint", (bob, 10u128))
        .value::<()>();
    assert_eq!(
        chain
            .call(alice, token, "mint", (bob, 1u128))
            .error::<TokenError>(),
        TokenError::SupplyOverflow
    );
    assert_eq!(
        chain.query(token, "total_supply", ()).value::<u128>(),
        u128::MAX
    );

    chain.call(bob, token, "burn", (4u128,)).value::<()>();
    assert_eq!(
        chain.query(token, "total_supply", ()).value::<u128>(),
        u128::MAX - 4
    );
    assert_eq!(
        chain
            .call(bob, token, "burn", (7u128,))
            .error::<TokenError>(),
        TokenError::InsufficientBalance {
            balance: 6,
            needed: 7
        }
    );
}

#[test]
fn holders_are_paged_in_address_order() {
    let mut chain = TestChain::new();
    let alice = chain.account("alice");
    let token = deploy(&mut chain, alice, 1_000_000);
    let mut others: Vec<Address> = (0..12)
        .map(|index| chain.account(&format!("holder {index}")))
        .collect();
    for (index, holder) in others.iter().enumerate() {
        chain
            .call(alice, token, "transfer", (*holder, 10u128 + index as u128))
            .value::<()>();
    }
    others.push(alice);
    others.sort();

    let first: Vec<(Address, u128)> = chain
        .query(token, "holders", (None::<Address>, 5u32))
        .value();
    assert_eq!(
        first.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        others[..5]
    );
    let next: Vec<(Address, u128)> = chain
        .query(token, "holders", (Some(first[4].0), 5u32))
        .value();
    assert_eq!(
        next.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        others[5..10]
    );
    let last: Vec<(Address, u128)> = chain
        .query(token, "holders", (Some(next[4].0), 5u32))
        .value();
    assert_eq!(last.len(), 3);
    let total: u128 = first
        .iter()
        .chain(&next)
        .chain(&last)
        .map(|(_, balance)| balance)
        .sum();
    assert_eq!(total, 1_000_000);
}

#[test]
fn an_emptied_balance_leaves_no_state() {
    let mut chain = TestChain::new();
    let (alice, bob) = (chain.account("alice"), chain.account("bob"));
    let token = deploy(&mut chain, alice, 100);
    let entries = chain.storage(token).len();
    chain
        .call(alice, token, "transfer", (bob, 100u128))
        .value::<()>();
    assert_eq!(
        chain.storage(token).len(),
        entries,
        "alice's entry went, bob's came"
    );
}
