//! Admission: what can be checked of a transaction without state.

use crate::genesis::Genesis;
use crate::limits::{MAX_ABI_BYTES, MAX_CHAIN_ID_BYTES};
use crate::types::{Action, Hash, SignedTransaction, TxError};

/// The longest method name a transaction may carry: the VM's longest
/// export name.
const MAX_METHOD_BYTES: usize = cairn_vm::limits::MAX_EXPORT_NAME_BYTES;

/// Stateless validity of a transaction of `bytes` encoded bytes on
/// `genesis`'s chain (whose hash is `genesis_hash`): chain and genesis,
/// field sizes, gas bounds, a cost that fits a balance, and the signature.
/// Returns the intrinsic gas. The mempool admits only what passes, and a
/// block executes only what passes again.
pub fn check_transaction(
    genesis: &Genesis,
    genesis_hash: &Hash,
    tx: &SignedTransaction,
    bytes: usize,
) -> Result<u64, TxError> {
    let intrinsic = check_unsigned(genesis, genesis_hash, tx, bytes)?;
    // Last: the most expensive check.
    tx.verify_signature()?;
    Ok(intrinsic)
}

/// [`check_transaction`] but the signature, for a transaction whose
/// signature is known to verify.
pub fn check_unsigned(
    genesis: &Genesis,
    genesis_hash: &Hash,
    tx: &SignedTransaction,
    bytes: usize,
) -> Result<u64, TxError> {
    let t = &tx.tx;
    if t.chain_id != genesis.chain_id {
        let mut found = t.chain_id.clone();
        found.truncate(MAX_CHAIN_ID_BYTES);
        return Err(TxError::WrongChain {
            expected: genesis.chain_id.clone(),
            found,
        });
    }
    if t.genesis_hash != *genesis_hash {
        return Err(TxError::WrongGenesis {
            expected: *genesis_hash,
            found: t.genesis_hash,
        });
    }
    match &t.action {
        Action::Call { method, input, .. } => {
            if method.is_empty() || method.len() > MAX_METHOD_BYTES {
                let mut method = method.clone();
                method.truncate(MAX_METHOD_BYTES);
                return Err(TxError::BadMethod(method));
            }
            if input.len() > cairn_vm::limits::MAX_INPUT_BYTES {
                return Err(TxError::Malformed(format!(
                    "call input is {} bytes; at most {}",
                    input.len(),
                    cairn_vm::limits::MAX_INPUT_BYTES
                )));
            }
        }
        Action::Deploy {
            code,
            abi,
            init_input,
        } => {
            if code.len() > cairn_vm::limits::MAX_CODE_BYTES {
                return Err(TxError::Malformed(format!(
                    "code is {} bytes; at most {}",
                    code.len(),
                    cairn_vm::limits::MAX_CODE_BYTES
                )));
            }
            if abi.len() > MAX_ABI_BYTES {
                return Err(TxError::Malformed(format!(
                    "the ABI is {} bytes; at most {MAX_ABI_BYTES}",
                    abi.len()
                )));
            }
            if !abi.is_empty() && serde_json::from_slice::<serde_json::Value>(abi).is_err() {
                return Err(TxError::Malformed("the ABI is not JSON".into()));
            }
            if init_input.len() > cairn_vm::limits::MAX_INPUT_BYTES {
                return Err(TxError::Malformed(format!(
                    "constructor input is {} bytes; at most {}",
                    init_input.len(),
                    cairn_vm::limits::MAX_INPUT_BYTES
                )));
            }
        }
        Action::Transfer { .. } => {}
    }
    if t.max_cost().is_none() {
        return Err(TxError::InsufficientBalance {
            needed: u128::MAX,
            available: 0,
        });
    }
    let params = &genesis.params;
    if t.gas_limit > params.max_tx_gas {
        return Err(TxError::GasAboveMaximum {
            limit: t.gas_limit,
            max: params.max_tx_gas,
        });
    }
    let intrinsic = params.intrinsic_gas(t, bytes);
    if t.gas_limit < intrinsic {
        return Err(TxError::GasBelowIntrinsic {
            limit: t.gas_limit,
            intrinsic,
        });
    }
    Ok(intrinsic)
}
