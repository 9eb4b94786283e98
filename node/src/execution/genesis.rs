//! The state at height 0: the genesis file's balances and the chain record
//! that starts the base fee and the supply.

use crate::genesis::{Genesis, GenesisError};
use crate::state::{Account, ChainState, Changes};

/// The genesis state of `genesis`, as changes to an empty state: what
/// [`crate::state::Store::init_genesis`] writes at version 0.
pub fn genesis_state(genesis: &Genesis) -> Result<Changes, GenesisError> {
    let mut changes = Changes::default();
    for (address, balance) in genesis.balances()? {
        changes
            .accounts
            .insert(address, Account { nonce: 0, balance });
    }
    changes.chain = Some(ChainState {
        base_fee: genesis.params.min_base_fee,
        total_supply: genesis.total_supply()?,
        burned: 0,
    });
    Ok(changes)
}
