//! Read-only questions about the committed state, for RPC.

use cairn_vm::{BlockInfo, Call, Outcome};

use super::Chain;
use crate::state::{Account, ChainState, Changes, ContractInfo, View};
use crate::types::{Address, VmAddress};

/// What a transaction should pay per unit of gas now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GasPrices {
    /// The next block's base fee: the least a transaction must pay.
    pub base_fee: u64,
    /// The least this node admits.
    pub min_gas_price: u64,
    /// What puts a transaction into the next block given what waits in
    /// this node's mempool.
    pub suggested: u64,
}

impl Chain {
    /// An account's committed record, and the nonce its next transaction
    /// should carry, counting its pending transactions.
    pub fn account(&self, address: &Address) -> anyhow::Result<(Account, u64)> {
        let account = self.store.snapshot().account(address)?;
        let pending = self.lock_mempool().pending_nonce(address, account.nonce);
        Ok((account, pending))
    }

    /// The committed nonce of an account, and the one its next transaction
    /// should carry, counting its pending transactions.
    pub fn next_nonce(&self, address: &Address) -> anyhow::Result<(u64, u64)> {
        let (account, pending) = self.account(address)?;
        Ok((account.nonce, pending))
    }

    /// The next block's base fee and the token's supply, as committed.
    pub fn chain_state(&self) -> anyhow::Result<ChainState> {
        self.store.snapshot().chain_state()
    }

    /// The gas prices a client should know of before it signs.
    pub fn gas_prices(&self) -> GasPrices {
        let mempool = self.lock_mempool();
        GasPrices {
            base_fee: mempool.base_fee(),
            min_gas_price: mempool.limits().min_gas_price,
            suggested: mempool.suggested_gas_price(self.params().block_gas_limit),
        }
    }

    /// Runs a read-only call against the latest committed state; nothing it
    /// does is kept.
    pub fn query(
        &self,
        contract: &Address,
        method: &str,
        input: &[u8],
        gas_limit: u64,
    ) -> anyhow::Result<Outcome> {
        let snapshot = self.store.snapshot();
        let head = snapshot.head()?;
        let changes = Changes::default();
        let view = View {
            snapshot: &snapshot,
            changes: &changes,
            deploy: None,
        };
        let call = Call {
            contract: contract.to_vm(),
            caller: cairn_vm::Address::default(),
            entry: method,
            input,
            gas_limit: gas_limit.min(self.params().max_tx_gas),
            value: 0,
            block: BlockInfo {
                height: head.height,
                time_ms: head.time_ms,
            },
            read_only: true,
        };
        Ok(self.vm.execute(&call, &view)?)
    }

    pub fn contract(&self, address: &Address) -> anyhow::Result<Option<ContractInfo>> {
        self.store.snapshot().contract(address)
    }
}
