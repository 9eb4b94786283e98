//! One transaction's state transition: a transfer, a call, or a deploy and
//! its `init`, with the value it carries.

use anyhow::{Context, anyhow};
use cairn_vm::{BlockInfo, Call, Outcome, PrepareError, Status, TrapCode, Vm};

use crate::state::{Account, Changes, ContractInfo, PendingDeploy, StateSnapshot, View};
use crate::types::VmAddress;
use crate::types::{
    Action, Address, Event, Receipt, STATUS_DEPLOY_REJECTED, SignedTransaction, contract_address,
};

/// An account as the block sees it so far: its own changes, then the
/// committed state.
pub(super) fn account(
    snapshot: &StateSnapshot<'_>,
    changes: &Changes,
    address: &Address,
) -> anyhow::Result<Account> {
    View {
        snapshot,
        changes,
        deploy: None,
    }
    .account(address)
}

/// Adds `amount` to what `address` holds.
pub(super) fn credit(
    snapshot: &StateSnapshot<'_>,
    changes: &mut Changes,
    address: &Address,
    amount: u128,
) -> anyhow::Result<()> {
    let mut record = account(snapshot, changes, address)?;
    // Balances add up to the supply, a u128: only corrupt state overflows.
    record.balance = record
        .balance
        .checked_add(amount)
        .ok_or_else(|| anyhow!("the balance of {address} overflows: the state is corrupt"))?;
    changes.accounts.insert(*address, record);
    Ok(())
}

/// Takes `amount` from what `address` holds; the caller has checked that
/// it holds enough.
pub(super) fn debit(
    snapshot: &StateSnapshot<'_>,
    changes: &mut Changes,
    address: &Address,
    amount: u128,
) -> anyhow::Result<()> {
    let mut record = account(snapshot, changes, address)?;
    record.balance = record
        .balance
        .checked_sub(amount)
        .ok_or_else(|| anyhow!("{address} was debited more than it holds"))?;
    changes.accounts.insert(*address, record);
    Ok(())
}

/// The balances a successful call left, each kept with its account's
/// nonce.
fn apply_balances(
    snapshot: &StateSnapshot<'_>,
    changes: &mut Changes,
    balances: &[(cairn_vm::Address, u128)],
) -> anyhow::Result<()> {
    for (address, balance) in balances {
        let address = Address::from_vm(*address);
        let mut record = account(snapshot, changes, &address)?;
        record.balance = *balance;
        changes.accounts.insert(address, record);
    }
    Ok(())
}

/// Executes one transaction whose nonce is consumed and whose largest fee
/// is already taken from its sender, adding what it changes to `changes`.
/// The receipt has the gas used and the value moved; settling the fee is
/// the block's. A failure of the transaction is its receipt; only a
/// failure of this node (storage, engine) is an error.
pub(super) fn execute_transaction(
    vm: &Vm,
    snapshot: &StateSnapshot<'_>,
    changes: &mut Changes,
    tx: &SignedTransaction,
    intrinsic: u64,
    block: BlockInfo,
) -> anyhow::Result<Receipt> {
    let sender = tx.tx.sender;
    let value = tx.tx.value;
    let gas_limit = tx.tx.gas_limit - intrinsic;
    let mut receipt = Receipt {
        tx_hash: tx.hash(),
        status: 0,
        gas_used: intrinsic,
        fee: 0,
        burned: 0,
        value: 0,
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
        if outcome.status.is_ok() {
            receipt.value = value;
        }
    };
    match &tx.tx.action {
        Action::Transfer { to } => {
            debit(snapshot, changes, &sender, value).context("a checked transfer")?;
            credit(snapshot, changes, to, value)?;
            receipt.value = value;
        }
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
                value,
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
                apply_balances(snapshot, changes, &outcome.balances)?;
            }
        }
        Action::Deploy {
            code,
            abi,
            init_input,
        } => {
            // Compiling is paid for before it happens, out of the same
            // limit as the constructor.
            let (prepared, gas_limit) = match vm.prepare_for_deploy(code, gas_limit) {
                Ok(Some((prepared, compile_gas))) => {
                    receipt.gas_used += compile_gas;
                    (prepared, gas_limit - compile_gas)
                }
                Ok(None) => {
                    receipt.status = Status::OutOfGas.code();
                    receipt.gas_used += gas_limit;
                    return Ok(receipt);
                }
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
                    value,
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
                // Without `init` the endowment moves here; with it, the
                // VM moves it as it does for any call.
                let balances = if status.is_ok() && value > 0 {
                    let from = account(snapshot, changes, &sender)?.balance;
                    let to = account(snapshot, changes, &address)?.balance;
                    let from = from.checked_sub(value).context("a checked endowment")?;
                    let to = to
                        .checked_add(value)
                        .ok_or_else(|| anyhow!("the balance of {address} overflows"))?;
                    vec![(sender.to_vm(), from), (address.to_vm(), to)]
                } else {
                    Vec::new()
                };
                Outcome {
                    status,
                    gas_used: 0,
                    output: Vec::new(),
                    events: Vec::new(),
                    writes: Vec::new(),
                    balances,
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
                apply_balances(snapshot, changes, &outcome.balances)?;
                receipt.contract = Some(address);
            }
        }
    }
    Ok(receipt)
}
