//! One transaction's state transition: a call, or a deploy and its `init`.

use cairn_vm::{BlockInfo, Call, Outcome, PrepareError, Status, TrapCode, Vm};

use crate::state::{Changes, ContractInfo, PendingDeploy, StateSnapshot, View};
use crate::types::VmAddress;
use crate::types::{
    Action, Address, Event, Receipt, STATUS_DEPLOY_REJECTED, SignedTransaction, contract_address,
};

/// Executes one transaction whose nonce is already consumed, adding what it
/// changes to `changes`. A failure of the transaction is its receipt; only
/// a failure of this node (storage, engine) is an error.
pub(super) fn execute_transaction(
    vm: &Vm,
    snapshot: &StateSnapshot<'_>,
    changes: &mut Changes,
    tx: &SignedTransaction,
    intrinsic: u64,
    block: BlockInfo,
) -> anyhow::Result<Receipt> {
    let sender = tx.tx.sender;
    let gas_limit = tx.tx.gas_limit - intrinsic;
    let mut receipt = Receipt {
        tx_hash: tx.hash(),
        status: 0,
        gas_used: intrinsic,
        output: Vec::new(),
        events: Vec::new(),
        contract: None,
    };
    let finish = |receipt: &mut Receipt, outcome: &Outcome| {
        receipt.status = outcome.status.code();
        receipt.gas_used += outcome.gas_used;
        receipt.output = outcome.output.clone();
        receipt.events = outcome
            .events
            .iter()
            .map(|event| Event {
                contract: Address::from_vm(event.contract),
                topic: event.topic.clone(),
                data: event.data.clone(),
            })
            .collect();
    };
    match &tx.tx.action {
        Action::Call {
            contract,
            method,
            input,
        } => {
            let call = Call {
                contract: contract.to_vm(),
                caller: sender.to_vm(),
                entry: method,
                input,
                gas_limit,
                block,
                read_only: false,
            };
            let outcome = vm.execute(
                &call,
                &View {
                    snapshot,
                    changes,
                    deploy: None,
                },
            )?;
            finish(&mut receipt, &outcome);
            if outcome.status.is_ok() {
                changes.apply_writes(&outcome.writes);
            }
        }
        Action::Deploy {
            code,
            abi,
            init_input,
        } => {
            let prepared = match vm.prepare(code) {
                Ok(prepared) => prepared,
                Err(PrepareError::Rejected(rejection)) => {
                    // Only the fixed code goes into the receipt (and so the
                    // receipts root): the text comes from the parser and
                    // differs across library versions.
                    tracing::debug!(code = rejection.code(), "deploy rejected: {rejection}");
                    receipt.status = STATUS_DEPLOY_REJECTED;
                    receipt.output = rejection.code().to_le_bytes().to_vec();
                    return Ok(receipt);
                }
                Err(PrepareError::Vm(error)) => return Err(error.into()),
            };
            let code_hash = prepared.code_hash.0;
            let address = contract_address(&sender, tx.tx.nonce);
            let has_init = prepared.summary.entry_points.iter().any(|e| e == "init");
            let outcome = if has_init {
                let call = Call {
                    contract: address.to_vm(),
                    caller: sender.to_vm(),
                    entry: "init",
                    input: init_input,
                    gas_limit,
                    block,
                    read_only: false,
                };
                let view = View {
                    snapshot,
                    changes,
                    deploy: Some(PendingDeploy {
                        address,
                        code_hash,
                        code,
                    }),
                };
                vm.execute(&call, &view)?
            } else {
                let status = if init_input.is_empty() {
                    Status::Ok
                } else {
                    // Input for a constructor the code does not have is
                    // a mistake worth reporting, not ignoring.
                    Status::Trap(TrapCode::NoSuchEntry)
                };
                Outcome {
                    status,
                    gas_used: 0,
                    output: Vec::new(),
                    events: Vec::new(),
                    writes: Vec::new(),
                }
            };
            finish(&mut receipt, &outcome);
            if outcome.status.is_ok() {
                let view = View {
                    snapshot,
                    changes,
                    deploy: None,
                };
                let store_code = !view.has_code(&code_hash)?;
                if store_code {
                    changes.code.insert(code_hash, code.clone());
                }
                // The ABI belongs to this deploy: stored by its own hash,
                // which the contract's record commits to.
                let abi_hash = (!abi.is_empty()).then(|| cairn_vm::blake2b_256(abi));
                if let Some(hash) = abi_hash
                    && !changes.abis.contains_key(&hash)
                    && snapshot.abi(&hash)?.is_none()
                {
                    changes.abis.insert(hash, abi.clone());
                }
                changes.contracts.insert(
                    address,
                    ContractInfo {
                        code_hash,
                        deployer: sender,
                        deployed_at: block.height,
                        abi_hash,
                    },
                );
                changes.apply_writes(&outcome.writes);
                receipt.contract = Some(address);
            }
        }
    }
    Ok(receipt)
}
