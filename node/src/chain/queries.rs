//! Read-only questions about the committed state, for RPC.

use cairn_vm::{BlockInfo, Call, Outcome};

use super::Chain;
use crate::state::{Changes, ContractInfo, View};
use crate::types::{Address, VmAddress};

impl Chain {
    /// The nonce an account's next transaction should carry, counting its
    /// pending transactions.
    pub fn next_nonce(&self, address: &Address) -> anyhow::Result<(u64, u64)> {
        let committed = self.store.snapshot().account(address)?.nonce;
        Ok((
            committed,
            self.lock_mempool().pending_nonce(address, committed),
        ))
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
