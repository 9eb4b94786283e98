//! What the chain is made of: transactions, blocks and receipts, their SCALE
//! encodings and hashes. Defined in `cairn-types`, shared with clients; the
//! node adds the conversion of addresses to the VM's.

pub use cairn_types::{
    Action, Address, Amount, Block, Event, Hash, Header, Receipt, STATUS_DEPLOY_REJECTED,
    SignedTransaction, Transaction, TxError, contract_address, decode_exact, merkle_root,
    parse_amount, parse_hash, status_name,
};

/// Addresses as the VM takes them: the same 32 bytes.
pub trait VmAddress {
    fn to_vm(self) -> cairn_vm::Address;
    fn from_vm(address: cairn_vm::Address) -> Self;
}

impl VmAddress for Address {
    fn to_vm(self) -> cairn_vm::Address {
        cairn_vm::Address(self.0)
    }

    fn from_vm(address: cairn_vm::Address) -> Self {
        Address(address.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_the_vms_blake2b_256() {
        for length in [0, 1, 31, 32, 33, 64, 127, 128, 129, 1000] {
            let data: Vec<u8> = (0..length)
                .map(|i: usize| u8::try_from(i * 7 % 251).unwrap())
                .collect();
            assert_eq!(
                cairn_types::blake2b_256(&data),
                cairn_vm::blake2b_256(&data),
                "{length} bytes"
            );
        }
    }

    #[test]
    fn status_names_are_the_vms_trap_names() {
        for trap in cairn_vm::TrapCode::ALL {
            assert_eq!(status_name(trap.code()), trap.name(), "{trap:?}");
        }
        assert_eq!(
            cairn_types::block::TRAP_NAMES.len(),
            cairn_vm::TrapCode::ALL.len()
        );
        assert_eq!(status_name(cairn_vm::Status::Ok.code()), "ok");
        assert_eq!(status_name(cairn_vm::Status::OutOfGas.code()), "out_of_gas");
    }

    #[test]
    fn rejection_names_are_the_vms_rejection_codes() {
        let vm: Vec<(u16, String)> = cairn_vm::validate::rejection_codes();
        let names: Vec<(u16, String)> = cairn_types::rejection::REJECTION_NAMES
            .iter()
            .map(|(code, name)| (*code, (*name).to_owned()))
            .collect();
        assert_eq!(names, vm);
    }

    #[test]
    fn addresses_convert_to_the_vms_and_back() {
        let address = Address([9; 32]);
        assert_eq!(address.to_vm(), cairn_vm::Address([9; 32]));
        assert_eq!(Address::from_vm(address.to_vm()), address);
    }
}
