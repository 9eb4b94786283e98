//! An escrow of payments, in a token or in the chain's native value. A
//! buyer opens a deal: the escrow pulls the tokens from the buyer (who
//! approved it beforehand) into its own account by calling the token
//! contract, or holds the native value the buyer attached to `open_native`.
//! The buyer releases the payment to the seller, or the seller refunds it,
//! or after the deadline the buyer takes it back.
//!
//! It shows calls between contracts through the token's typed client, that
//! a callee's failure reverts only the callee (when the token refuses a
//! deposit, the escrow still records the failed attempt), and a contract
//! holding native value: only `open_native` is `#[payable]`, every other
//! method refuses value, and paying out is `transfer`.

#![no_std]
// parity-scale-codec's derives cast enum variant indices to u8.
#![allow(clippy::cast_possible_truncation)]

use cairn_sdk::call::CallError;
use cairn_sdk::env::{self_address, transfer};
use cairn_sdk::prelude::*;
use token::{TokenError, TokenRef};

#[contract]
pub struct Escrow {
    token: Value<Address>,
    next_id: Value<u64>,
    deals: Map<u64, Deal>,
    /// Deposits the token refused, per buyer.
    refused_deposits: Map<Address, u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Deal {
    pub buyer: Address,
    pub seller: Address,
    pub amount: u128,
    /// Block time (ms) after which the buyer may take the tokens back.
    pub deadline_ms: u64,
    pub state: DealState,
    pub asset: Asset,
}

/// What a deal pays in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub enum Asset {
    /// The escrow's token, held in the escrow's token account.
    Token,
    /// The chain's native value, held in the escrow's own balance.
    Native,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
pub enum DealState {
    Open,
    Released,
    Refunded,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum EscrowError {
    NoSuchDeal,
    NotOpen,
    /// Only the buyer releases; only the seller refunds before the deadline.
    NotAllowed,
    /// The token contract failed for another reason than refusing.
    TokenUnavailable,
    /// The token refused to pay out (it should never).
    Payout(TokenError),
    /// `open_native` came with no value.
    NothingAttached,
    /// The escrow holds less native value than the deal (it should never).
    NativePayout,
}

#[derive(Debug, Clone, PartialEq, Eq, Event, Encode, Decode)]
pub struct DealOpened {
    pub id: u64,
    pub buyer: Address,
    pub seller: Address,
    pub amount: u128,
    pub asset: Asset,
}

#[derive(Debug, Clone, PartialEq, Eq, Event, Encode, Decode)]
pub struct DepositRefused {
    pub buyer: Address,
    pub reason: TokenError,
}

#[derive(Debug, Clone, PartialEq, Eq, Event, Encode, Decode)]
pub struct DealClosed {
    pub id: u64,
    pub state: DealState,
}

#[contract]
impl Escrow {
    /// An escrow for payments in `token`.
    #[init]
    pub fn init(&mut self, token: Address) {
        self.token.set(&token);
    }

    /// Opens a deal paying `amount` to `seller`, pulling the tokens from the
    /// caller (who must have approved this escrow for them). If the token
    /// refuses, no deal is opened, the refusal is recorded and `None` comes
    /// back; the token's own changes are reverted, the escrow's kept.
    pub fn open(
        &mut self,
        seller: Address,
        amount: u128,
        deadline_ms: u64,
    ) -> Result<Option<u64>, EscrowError> {
        let buyer = caller();
        match self.token().transfer_from(buyer, self_address(), amount) {
            Ok(()) => {}
            Err(CallError::Contract(reason)) => {
                let refused = self
                    .refused_deposits
                    .get_or_default(&buyer)
                    .saturating_add(1);
                self.refused_deposits.insert(&buyer, &refused);
                emit(&DepositRefused { buyer, reason });
                return Ok(None);
            }
            Err(_) => return Err(EscrowError::TokenUnavailable),
        }
        let id = self.record(buyer, seller, amount, deadline_ms, Asset::Token);
        Ok(Some(id))
    }

    /// Opens a deal paying the native value attached to this call to
    /// `seller`; the escrow holds it until the deal closes.
    #[payable]
    pub fn open_native(&mut self, seller: Address, deadline_ms: u64) -> Result<u64, EscrowError> {
        let amount = attached_value();
        if amount == 0 {
            return Err(EscrowError::NothingAttached);
        }
        Ok(self.record(caller(), seller, amount, deadline_ms, Asset::Native))
    }

    /// The buyer pays the seller.
    pub fn release(&mut self, id: u64) -> Result<(), EscrowError> {
        let deal = self.open_deal(id)?;
        if caller() != deal.buyer {
            return Err(EscrowError::NotAllowed);
        }
        self.close(id, deal, DealState::Released)
    }

    /// The seller gives the tokens back, or the buyer takes them back after
    /// the deadline.
    pub fn refund(&mut self, id: u64) -> Result<(), EscrowError> {
        let deal = self.open_deal(id)?;
        let late = block_time() > deal.deadline_ms;
        let allowed = caller() == deal.seller || (caller() == deal.buyer && late);
        if !allowed {
            return Err(EscrowError::NotAllowed);
        }
        self.close(id, deal, DealState::Refunded)
    }

    pub fn deal(&self, id: u64) -> Option<Deal> {
        self.deals.get(&id)
    }

    pub fn refused_deposits(&self, buyer: Address) -> u32 {
        self.refused_deposits.get_or_default(&buyer)
    }

    /// The native value the escrow holds: what its open native deals owe.
    pub fn held(&self) -> u128 {
        self_balance()
    }
}

impl Escrow {
    fn token(&self) -> TokenRef {
        TokenRef::at(self.token.get().unwrap_or_default())
    }

    fn record(
        &mut self,
        buyer: Address,
        seller: Address,
        amount: u128,
        deadline_ms: u64,
        asset: Asset,
    ) -> u64 {
        let id = self.next_id.get_or_default();
        self.next_id.set(&(id + 1));
        self.deals.insert(
            &id,
            &Deal {
                buyer,
                seller,
                amount,
                deadline_ms,
                state: DealState::Open,
                asset,
            },
        );
        emit(&DealOpened {
            id,
            buyer,
            seller,
            amount,
            asset,
        });
        id
    }

    fn open_deal(&self, id: u64) -> Result<Deal, EscrowError> {
        let deal = self.deals.get(&id).ok_or(EscrowError::NoSuchDeal)?;
        if deal.state != DealState::Open {
            return Err(EscrowError::NotOpen);
        }
        Ok(deal)
    }

    fn close(&mut self, id: u64, mut deal: Deal, state: DealState) -> Result<(), EscrowError> {
        let to = match state {
            DealState::Released => deal.seller,
            _ => deal.buyer,
        };
        match deal.asset {
            Asset::Token => {
                self.token()
                    .transfer(to, deal.amount)
                    .map_err(|error| match error {
                        CallError::Contract(error) => EscrowError::Payout(error),
                        _ => EscrowError::TokenUnavailable,
                    })?
            }
            Asset::Native => {
                transfer(&to, deal.amount).map_err(|_| EscrowError::NativePayout)?;
            }
        }
        deal.state = state;
        self.deals.insert(&id, &deal);
        emit(&DealClosed { id, state });
        Ok(())
    }
}
