//! `cairn deploy <wasm>`: deploys a contract built by `cargo cairn build`,
//! its constructor's arguments encoded through its ABI.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use cairn_client::abi::Abi;
use cairn_types::Action;
use clap::Args;
use serde_json::json;

use crate::Context;
use crate::output::{describe_receipt, print, receipt_json};
use crate::send::{SendOptions, ValueOption, parse_args, read_abi, send_transaction};

#[derive(Args)]
pub(crate) struct DeployArgs {
    /// The contract's .wasm.
    wasm: PathBuf,
    /// Its ABI; `<wasm without .wasm>.abi.json` by default.
    #[arg(long)]
    abi: Option<PathBuf>,
    /// The constructor's arguments, as a JSON array or object.
    #[arg(long, default_value = "[]")]
    args: String,
    /// Native value for the new contract (its `init` must be payable).
    #[command(flatten)]
    value: ValueOption,
    #[command(flatten)]
    send: SendOptions,
}

pub(crate) async fn run(args: DeployArgs, context: &Context) -> anyhow::Result<()> {
    let DeployArgs {
        wasm,
        abi,
        args,
        value,
        send,
    } = args;
    let json = context.json;
    let code = std::fs::read(&wasm).with_context(|| format!("reading {}", wasm.display()))?;
    let abi_path = abi.unwrap_or_else(|| wasm.with_extension("abi.json"));
    let abi_json = read_abi(&abi_path)?;
    let abi = Abi::from_json(&abi_json)?;
    let init = abi.methods.iter().find(|m| m.name == "init");
    if value.value > 0 && init.is_some_and(|init| !init.payable) {
        bail!(
            "{}'s constructor is not payable (its ABI says so): it would refuse the value",
            abi.contract
        );
    }
    let init_input = match init {
        Some(init) => init.encode_args(&parse_args(&args)?)?,
        None if parse_args(&args)? == json!([]) => Vec::new(),
        None => bail!("{} has no constructor; it takes no arguments", abi.contract),
    };
    let action = Action::Deploy {
        code,
        abi: serde_json::to_vec(&abi_json)?,
        init_input,
    };
    let client = context.client()?;
    if let Some(receipt) = send_transaction(&client, &send, action, value.value, json).await? {
        let value = receipt_json(&receipt, None, Some(&abi));
        print(json, &value, || {
            let mut text = describe_receipt(&receipt, None, Some(&abi));
            if let Some(contract) = &receipt.contract {
                text = format!("deployed {} at {contract}\n{text}", abi.contract);
            }
            text
        });
        if receipt.status != 0 {
            std::process::exit(2);
        }
    }
    Ok(())
}
