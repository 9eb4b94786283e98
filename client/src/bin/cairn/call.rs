//! `cairn call <contract> <method> [args]`: calls a method in a signed
//! transaction and prints its receipt, decoded through the ABI.

use clap::Args;

use crate::Context;
use crate::output::{describe_receipt, print, receipt_json};
use crate::send::{
    AbiOption, SendOptions, ValueOption, contract_abi, parse_address, parse_args, send_transaction,
};
use anyhow::bail;
use cairn_types::Action;

#[derive(Args)]
pub(crate) struct CallArgs {
    contract: String,
    method: String,
    /// Arguments as a JSON array or object.
    #[arg(default_value = "[]")]
    args: String,
    #[command(flatten)]
    abi: AbiOption,
    #[command(flatten)]
    value: ValueOption,
    #[command(flatten)]
    send: SendOptions,
}

pub(crate) async fn run(args: CallArgs, context: &Context) -> anyhow::Result<()> {
    let json = context.json;
    let client = context.client()?;
    let abi = contract_abi(&client, &args.contract, args.abi.abi.as_deref()).await?;
    let method = abi.method(&args.method)?;
    let value = args.value.value;
    if value > 0 && !method.payable {
        bail!(
            "`{}` is not payable (its ABI says so): the contract would refuse the value",
            method.name
        );
    }
    let input = method.encode_args(&parse_args(&args.args)?)?;
    let action = Action::Call {
        contract: parse_address(&args.contract)?,
        method: method.name.clone(),
        input,
    };
    if let Some(receipt) = send_transaction(&client, &args.send, action, value, json).await? {
        print(
            json,
            &receipt_json(&receipt, Some(method), Some(&abi)),
            || describe_receipt(&receipt, Some(method), Some(&abi)),
        );
        if receipt.status != 0 {
            std::process::exit(2);
        }
    }
    Ok(())
}
