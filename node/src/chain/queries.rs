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

/// A query's outcome, and the height of the state it read.
#[derive(Debug, Clone)]
pub struct Queried {
    /// The committed height the query ran on: read from the same snapshot
    /// as the state, so it names exactly the state the outcome reflects.
    pub height: u64,
    pub outcome: Outcome,
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
    /// does is kept. `gas_limit` is capped at a transaction's maximum;
    /// callers serving strangers cap it lower.
    pub fn query(
        &self,
        contract: &Address,
        method: &str,
        input: &[u8],
        gas_limit: u64,
    ) -> anyhow::Result<Queried> {
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
        let outcome = self.vm.execute(&call, &view)?;
        Ok(Queried {
            height: head.height,
            outcome,
        })
    }

    pub fn contract(&self, address: &Address) -> anyhow::Result<Option<ContractInfo>> {
        self.store.snapshot().contract(address)
    }

    /// A contract's record and the ABI its deploy gave, read from one
    /// snapshot. The ABI's bytes must hash to what the record (under the
    /// state root) says.
    pub fn contract_with_abi(
        &self,
        address: &Address,
    ) -> anyhow::Result<Option<(ContractInfo, Option<Vec<u8>>)>> {
        let snapshot = self.store.snapshot();
        let Some(info) = snapshot.contract(address)? else {
            return Ok(None);
        };
        let Some(abi_hash) = info.abi_hash else {
            return Ok(Some((info, None)));
        };
        let abi = snapshot.abi(&abi_hash)?.ok_or_else(|| {
            anyhow::anyhow!(
                "the ABI {} of contract {address} is missing from the database",
                hex::encode(abi_hash)
            )
        })?;
        if cairn_vm::blake2b_256(&abi) != abi_hash {
            anyhow::bail!(
                "the stored ABI {} of contract {address} does not match its hash",
                hex::encode(abi_hash)
            );
        }
        Ok(Some((info, Some(abi))))
    }
}
