//! `cairn query <contract> <method> [args]`: runs a method read-only on the
//! latest state and prints its decoded result; nothing is sent.

use clap::Args;
use serde_json::{Value, json};

use crate::Context;
use crate::output::{describe_failure, print};
use crate::send::{AbiOption, contract_abi, parse_address, parse_args};

#[derive(Args)]
pub(crate) struct QueryArgs {
    contract: String,
    method: String,
    #[arg(default_value = "[]")]
    args: String,
    #[command(flatten)]
    abi: AbiOption,
}

pub(crate) async fn run(args: QueryArgs, context: &Context) -> anyhow::Result<()> {
    let client = context.client()?;
    let abi = contract_abi(&client, &args.contract, args.abi.abi.as_deref()).await?;
    let method = abi.method(&args.method)?;
    let input = method.encode_args(&parse_args(&args.args)?)?;
    let contract = parse_address(&args.contract)?;
    let result = client.query(&contract, &method.name, &input, None).await?;
    let output = hex::decode(&result.output)?;
    let value = if result.status == 0 {
        method
            .decode_output(&output)
            .unwrap_or(Value::String(result.output.clone()))
    } else {
        Value::String(describe_failure(result.status, &output, method))
    };
    let report = json!({
        "status": result.status_name,
        "value": value,
        "gas_used": result.gas_used,
        "height": result.height,
    });
    print(context.json, &report, || {
        if result.status == 0 {
            value.to_string()
        } else {
            format!(
                "{} (gas {})",
                value.as_str().unwrap_or_default(),
                result.gas_used
            )
        }
    });
    if result.status != 0 {
        std::process::exit(2);
    }
    Ok(())
}
