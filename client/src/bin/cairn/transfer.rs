//! `cairn transfer <to> <amount>`: sends native value in a signed
//! transaction and prints its receipt.

use cairn_types::{Action, parse_amount};
use clap::Args;

use crate::Context;
use crate::output::{describe_receipt, print, receipt_json};
use crate::send::{SendOptions, parse_address, send_transaction};

/// Gas for a transfer when `--gas` is not given: it uses its intrinsic
/// cost only.
const TRANSFER_EXECUTION_GAS: u64 = 0;

#[derive(Args)]
pub(crate) struct TransferArgs {
    /// The recipient: an account or a contract (whose code does not run).
    to: String,
    /// How much, in the token's smallest unit.
    #[arg(value_parser = parse_amount)]
    amount: u128,
    #[command(flatten)]
    send: SendOptions,
}

pub(crate) async fn run(args: TransferArgs, context: &Context) -> anyhow::Result<()> {
    let json = context.json;
    let client = context.client()?;
    let action = Action::Transfer {
        to: parse_address(&args.to)?,
    };
    let send = args.send.with_default_execution_gas(TRANSFER_EXECUTION_GAS);
    if let Some(receipt) = send_transaction(&client, &send, action, args.amount, json).await? {
        print(json, &receipt_json(&receipt, None, None), || {
            describe_receipt(&receipt, None, None)
        });
        if receipt.status != 0 {
            std::process::exit(2);
        }
    }
    Ok(())
}
