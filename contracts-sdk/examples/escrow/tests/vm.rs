//! The escrow and the token, both compiled, calling each other on the VM;
//! and the escrow holding native value.

use cairn_sdk::Address;
use cairn_sdk_testing::{ACCOUNT_BALANCE, TestChain};
use escrow::{Asset, Deal, DealClosed, DealOpened, DealState, DepositRefused, EscrowError};
use token::{TokenError, Transfer};

const ESCROW: &[u8] = include_bytes!("../../../testdata/escrow.wasm");
const TOKEN: &[u8] = include_bytes!("../../../testdata/token.wasm");

struct Setup {
    chain: TestChain,
    token: Address,
    escrow: Address,
    buyer: Address,
    seller: Address,
}

fn setup() -> Setup {
    let mut chain = TestChain::new();
    let (buyer, seller) = (chain.account("buyer"), chain.account("seller"));
    let token = chain
        .deploy(
            buyer,
            TOKEN,
            ("Cairn".to_owned(), "CRN".to_owned(), 6u8, 1_000u128),
        )
        .address;
    let escrow = chain.deploy(seller, ESCROW, (token,)).address;
    Setup {
        chain,
        token,
        escrow,
        buyer,
        seller,
    }
}

fn balance(setup: &Setup, owner: Address) -> u128 {
    setup
        .chain
        .query(setup.token, "balance_of", (owner,))
        .value()
}

#[test]
fn a_deal_holds_the_tokens_until_released() {
    let mut s = setup();
    s.chain
        .call(s.buyer, s.token, "approve", (s.escrow, 300u128))
        .value::<()>();
    let opened = s
        .chain
        .call(s.buyer, s.escrow, "open", (s.seller, 300u128, 0u64));
    let id: Option<u64> = opened.value();
    assert_eq!(id, Some(0));
    assert_eq!(
        opened.events_from::<DealOpened>(s.escrow),
        [DealOpened {
            id: 0,
            buyer: s.buyer,
            seller: s.seller,
            amount: 300,
            asset: Asset::Token,
        }]
    );
    // The token's event, from the nested call, is part of the same receipt.
    assert_eq!(
        opened.events_from::<Transfer>(s.token),
        [Transfer {
            from: Some(s.buyer),
            to: Some(s.escrow),
            amount: 300
        }]
    );
    assert_eq!(balance(&s, s.escrow), 300);
    assert_eq!(balance(&s, s.buyer), 700);

    // Only the buyer releases.
    assert_eq!(
        s.chain
            .call(s.seller, s.escrow, "release", (0u64,))
            .error::<EscrowError>(),
        EscrowError::NotAllowed
    );
    let released = s.chain.call(s.buyer, s.escrow, "release", (0u64,));
    released.value::<()>();
    assert_eq!(
        released.events::<DealClosed>(),
        [DealClosed {
            id: 0,
            state: DealState::Released
        }]
    );
    assert_eq!(balance(&s, s.seller), 300);
    assert_eq!(balance(&s, s.escrow), 0);
    assert_eq!(
        s.chain
            .call(s.buyer, s.escrow, "release", (0u64,))
            .error::<EscrowError>(),
        EscrowError::NotOpen
    );
}

#[test]
fn a_refused_deposit_reverts_only_the_token_call() {
    let mut s = setup();
    // No approval: the token refuses to move the buyer's tokens.
    let attempt = s
        .chain
        .call(s.buyer, s.escrow, "open", (s.seller, 300u128, 0u64));
    assert_eq!(attempt.value::<Option<u64>>(), None);
    assert_eq!(
        attempt.events::<DepositRefused>(),
        [DepositRefused {
            buyer: s.buyer,
            reason: TokenError::InsufficientAllowance {
                allowance: 0,
                needed: 300
            }
        }]
    );
    // The escrow's record of the refusal is kept; the token is untouched.
    assert_eq!(
        s.chain
            .query(s.escrow, "refused_deposits", (s.buyer,))
            .value::<u32>(),
        1
    );
    assert_eq!(balance(&s, s.buyer), 1_000);
    assert!(attempt.events::<Transfer>().is_empty());
}

#[test]
fn refunds_by_the_seller_or_after_the_deadline() {
    let mut s = setup();
    s.chain
        .call(s.buyer, s.token, "approve", (s.escrow, 500u128))
        .value::<()>();
    let deadline = s.chain.block().time_ms + 60_000;
    for _ in 0..2 {
        s.chain
            .call(s.buyer, s.escrow, "open", (s.seller, 250u128, deadline))
            .value::<Option<u64>>();
    }
    // Before the deadline the buyer cannot take deal 0 back; the seller can.
    assert_eq!(
        s.chain
            .call(s.buyer, s.escrow, "refund", (0u64,))
            .error::<EscrowError>(),
        EscrowError::NotAllowed
    );
    s.chain
        .call(s.seller, s.escrow, "refund", (0u64,))
        .value::<()>();
    // After it, the buyer takes deal 1 back.
    s.chain.advance(100, 61_000);
    s.chain
        .call(s.buyer, s.escrow, "refund", (1u64,))
        .value::<()>();
    assert_eq!(balance(&s, s.buyer), 1_000);
    let deal: Option<Deal> = s.chain.query(s.escrow, "deal", (1u64,)).value();
    assert_eq!(deal.map(|deal| deal.state), Some(DealState::Refunded));
    assert_eq!(
        s.chain
            .call(s.buyer, s.escrow, "refund", (7u64,))
            .error::<EscrowError>(),
        EscrowError::NoSuchDeal
    );
}

#[test]
fn a_callee_that_fails_otherwise_fails_the_whole_call() {
    // An escrow whose "token" is another escrow: the call to its
    // `transfer_from` fails with no_such_entry, `open` returns an error, and
    // the error reverts everything the call did.
    let mut s = setup();
    let confused = s.chain.deploy(s.seller, ESCROW, (s.escrow,)).address;
    let attempt = s
        .chain
        .call(s.buyer, confused, "open", (s.seller, 1u128, 0u64));
    assert_eq!(
        attempt.error::<EscrowError>(),
        EscrowError::TokenUnavailable
    );
    assert!(attempt.writes == 0 && attempt.events.is_empty());
    assert_eq!(
        s.chain
            .query(confused, "refused_deposits", (s.buyer,))
            .value::<u32>(),
        0
    );
}

#[test]
fn a_native_deal_holds_the_attached_value_until_released() {
    let mut s = setup();
    let (buyer_before, seller_before) = (s.chain.balance(s.buyer), s.chain.balance(s.seller));
    let opened = s
        .chain
        .call_with_value(s.buyer, s.escrow, "open_native", (s.seller, 0u64), 500);
    assert_eq!(opened.value::<u64>(), 0);
    assert_eq!(opened.value, 500);
    assert_eq!(
        opened.events::<DealOpened>(),
        [DealOpened {
            id: 0,
            buyer: s.buyer,
            seller: s.seller,
            amount: 500,
            asset: Asset::Native,
        }]
    );
    // The buyer paid the value and the fee for the gas used, nothing more.
    assert!(opened.fee > 0);
    assert_eq!(s.chain.balance(s.buyer), buyer_before - 500 - opened.fee);
    assert_eq!(s.chain.balance(s.escrow), 500);
    assert_eq!(s.chain.query(s.escrow, "held", ()).value::<u128>(), 500);

    let released = s.chain.call(s.buyer, s.escrow, "release", (0u64,));
    released.value::<()>();
    assert_eq!(s.chain.balance(s.escrow), 0);
    assert_eq!(s.chain.balance(s.seller), seller_before + 500);
    // The token was never involved.
    assert_eq!(balance(&s, s.escrow), 0);
}

#[test]
fn a_native_deal_is_refunded_after_its_deadline() {
    let mut s = setup();
    let deadline = s.chain.block().time_ms + 1_000;
    s.chain
        .call_with_value(s.buyer, s.escrow, "open_native", (s.seller, deadline), 70)
        .value::<u64>();
    let before = s.chain.balance(s.buyer);
    s.chain.advance(1, 2_000);
    let refunded = s.chain.call(s.buyer, s.escrow, "refund", (0u64,));
    refunded.value::<()>();
    assert_eq!(s.chain.balance(s.buyer), before + 70 - refunded.fee);
    assert_eq!(s.chain.balance(s.escrow), 0);
}

#[test]
fn methods_that_are_not_payable_refuse_value_and_give_it_back() {
    let mut s = setup();
    let before = s.chain.balance(s.buyer);
    let refused = s
        .chain
        .call_with_value(s.buyer, s.escrow, "release", (0u64,), 10);
    assert!(
        refused.abort_message().contains("`release` is not payable"),
        "{refused}"
    );
    assert_eq!(refused.value, 0);
    // Only the fee is gone.
    assert_eq!(s.chain.balance(s.buyer), before - refused.fee);
    assert_eq!(s.chain.balance(s.escrow), 0);
    // A payable method given nothing is the contract's own error.
    assert_eq!(
        s.chain
            .call(s.buyer, s.escrow, "open_native", (s.seller, 0u64))
            .error::<EscrowError>(),
        EscrowError::NothingAttached
    );
    // Value the caller does not have never reaches the contract.
    let poor = s.chain.account("poor");
    s.chain.set_gas_price(0);
    let attempt = s.chain.try_call(
        poor,
        s.escrow,
        "open_native",
        &parity_scale_codec::Encode::encode(&(s.seller, 0u64)),
        ACCOUNT_BALANCE + 1,
    );
    let refused = attempt.unwrap_err();
    assert_eq!(refused.needs, ACCOUNT_BALANCE + 1);
    assert_eq!(s.chain.balance(poor), ACCOUNT_BALANCE);
    assert_eq!(s.chain.balance(s.escrow), 0);
}
