//! A fungible token: balances, transfers, approvals and transfers on
//! behalf of others, minting by the creator, burning, and events for all of
//! them. Every amount is checked: no operation can overflow or create
//! tokens out of nothing.

#![no_std]
// parity-scale-codec's derives cast enum variant indices to u8.
#![allow(clippy::cast_possible_truncation)]

use cairn_sdk::prelude::*;

#[contract]
pub struct Token {
    name: Value<String>,
    symbol: Value<String>,
    decimals: Value<u8>,
    minter: Value<Address>,
    total_supply: Value<u128>,
    balances: Map<Address, u128>,
    /// (owner, spender) -> how much spender may still move.
    allowances: Map<(Address, Address), u128>,
}

#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum TokenError {
    InsufficientBalance {
        balance: u128,
        needed: u128,
    },
    InsufficientAllowance {
        allowance: u128,
        needed: u128,
    },
    /// The total supply would pass `u128::MAX`.
    SupplyOverflow,
    /// Only the creator may mint.
    NotMinter,
}

/// Tokens moved: minted when `from` is `None`, burned when `to` is.
#[derive(Debug, Clone, PartialEq, Eq, Event, Encode, Decode)]
pub struct Transfer {
    pub from: Option<Address>,
    pub to: Option<Address>,
    pub amount: u128,
}

#[derive(Debug, Clone, PartialEq, Eq, Event, Encode, Decode)]
pub struct Approval {
    pub owner: Address,
    pub spender: Address,
    pub amount: u128,
}

#[contract]
impl Token {
    /// Creates the token and gives `supply` to its creator, who alone may
    /// mint more.
    #[init]
    pub fn init(&mut self, name: String, symbol: String, decimals: u8, supply: u128) {
        self.name.set(&name);
        self.symbol.set(&symbol);
        self.decimals.set(&decimals);
        self.minter.set(&caller());
        self.total_supply.set(&0);
        if let Err(error) = self.mint_to(caller(), supply) {
            cairn_sdk::env::revert(&error);
        }
    }

    pub fn name(&self) -> String {
        self.name.get_or_default()
    }

    pub fn symbol(&self) -> String {
        self.symbol.get_or_default()
    }

    pub fn decimals(&self) -> u8 {
        self.decimals.get_or_default()
    }

    pub fn total_supply(&self) -> u128 {
        self.total_supply.get_or_default()
    }

    pub fn balance_of(&self, owner: Address) -> u128 {
        self.balances.get_or_default(&owner)
    }

    pub fn allowance(&self, owner: Address, spender: Address) -> u128 {
        self.allowances.get_or_default(&(owner, spender))
    }

    /// Moves `amount` from the caller to `to`.
    pub fn transfer(&mut self, to: Address, amount: u128) -> Result<(), TokenError> {
        self.move_tokens(caller(), to, amount)
    }

    /// Lets `spender` move up to `amount` of the caller's tokens (replacing
    /// any earlier allowance).
    pub fn approve(&mut self, spender: Address, amount: u128) -> Result<(), TokenError> {
        let owner = caller();
        self.allowances.insert(&(owner, spender), &amount);
        emit(&Approval {
            owner,
            spender,
            amount,
        });
        Ok(())
    }

    /// Moves `amount` from `from` to `to` on the caller's allowance.
    pub fn transfer_from(
        &mut self,
        from: Address,
        to: Address,
        amount: u128,
    ) -> Result<(), TokenError> {
        let spender = caller();
        let allowance = self.allowances.get_or_default(&(from, spender));
        let left = allowance
            .checked_sub(amount)
            .ok_or(TokenError::InsufficientAllowance {
                allowance,
                needed: amount,
            })?;
        self.allowances.insert(&(from, spender), &left);
        self.move_tokens(from, to, amount)
    }

    /// Creates `amount` new tokens for `to`; the creator only.
    pub fn mint(&mut self, to: Address, amount: u128) -> Result<(), TokenError> {
        if Some(caller()) != self.minter.get() {
            return Err(TokenError::NotMinter);
        }
        self.mint_to(to, amount)
    }

    /// Destroys `amount` of the caller's tokens.
    pub fn burn(&mut self, amount: u128) -> Result<(), TokenError> {
        let owner = caller();
        let balance = self.balances.get_or_default(&owner);
        let left = balance
            .checked_sub(amount)
            .ok_or(TokenError::InsufficientBalance {
                balance,
                needed: amount,
            })?;
        self.set_balance(owner, left);
        // Never underflows: the supply is the sum of all balances.
        let supply = self.total_supply.get_or_default().saturating_sub(amount);
        self.total_supply.set(&supply);
        emit(&Transfer {
            from: Some(owner),
            to: None,
            amount,
        });
        Ok(())
    }

    /// Up to `limit` (at most 100) holders and balances, in address byte
    /// order, starting after `after`: read from storage one entry at a time,
    /// so a page costs gas for its entries only.
    pub fn holders(&self, after: Option<Address>, limit: u32) -> Vec<(Address, u128)> {
        let limit = limit.min(100) as usize;
        let entries = match after {
            None => self.balances.iter(),
            Some(after) => self.balances.iter_from(&after),
        };
        entries
            .filter(|(holder, _)| Some(*holder) != after)
            .take(limit)
            .collect()
    }
}

impl Token {
    fn set_balance(&mut self, owner: Address, balance: u128) {
        if balance == 0 {
            // Empty balances take no state.
            self.balances.remove(&owner);
        } else {
            self.balances.insert(&owner, &balance);
        }
    }

    fn move_tokens(&mut self, from: Address, to: Address, amount: u128) -> Result<(), TokenError> {
        let from_balance = self.balances.get_or_default(&from);
        let from_left =
            from_balance
                .checked_sub(amount)
                .ok_or(TokenError::InsufficientBalance {
                    balance: from_balance,
                    needed: amount,
                })?;
        if from != to {
            self.set_balance(from, from_left);
            // Cannot overflow: `to`'s balance and `amount` are both part of
            // a supply that fits u128.
            let to_balance = self.balances.get_or_default(&to).saturating_add(amount);
            self.set_balance(to, to_balance);
        }
        emit(&Transfer {
            from: Some(from),
            to: Some(to),
            amount,
        });
        Ok(())
    }

    fn mint_to(&mut self, to: Address, amount: u128) -> Result<(), TokenError> {
        let supply = self
            .total_supply
            .get_or_default()
            .checked_add(amount)
            .ok_or(TokenError::SupplyOverflow)?;
        self.total_supply.set(&supply);
        let balance = self.balances.get_or_default(&to).saturating_add(amount);
        self.set_balance(to, balance);
        emit(&Transfer {
            from: None,
            to: Some(to),
            amount,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_sdk::testing;

    const ALICE: Address = Address([1; 32]);
    const BOB: Address = Address([2; 32]);

    fn token(supply: u128) -> Token {
        testing::reset();
        testing::set_caller(ALICE);
        let mut token = Token::load();
        token.init("Cairn".into(), "CRN".into(), 6, supply);
        token
    }

    #[test]
    fn transfers_conserve_supply() {
        let mut token = token(1_000);
        assert_eq!(token.transfer(BOB, 300), Ok(()));
        assert_eq!(token.balance_of(ALICE), 700);
        assert_eq!(token.balance_of(BOB), 300);
        assert_eq!(
            token.transfer(BOB, 701),
            Err(TokenError::InsufficientBalance {
                balance: 700,
                needed: 701
            })
        );
        assert_eq!(token.total_supply(), 1_000);
    }

    #[test]
    fn minting_cannot_overflow_the_supply() {
        let mut token = token(u128::MAX - 5);
        assert_eq!(token.mint(BOB, 5), Ok(()));
        assert_eq!(token.mint(BOB, 1), Err(TokenError::SupplyOverflow));
        testing::set_caller(BOB);
        assert_eq!(token.mint(BOB, 1), Err(TokenError::NotMinter));
    }

    #[test]
    fn allowances_are_spent() {
        let mut token = token(100);
        assert_eq!(token.approve(BOB, 60), Ok(()));
        testing::set_caller(BOB);
        assert_eq!(token.transfer_from(ALICE, BOB, 50), Ok(()));
        assert_eq!(token.allowance(ALICE, BOB), 10);
        assert_eq!(
            token.transfer_from(ALICE, BOB, 11),
            Err(TokenError::InsufficientAllowance {
                allowance: 10,
                needed: 11
            })
        );
    }
}
