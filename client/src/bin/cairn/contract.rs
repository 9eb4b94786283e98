//! `cairn contract <address>`: a contract's code hash, deployer and ABI.

use anyhow::anyhow;
use cairn_types::Address;
use clap::Args;

use crate::Context;
use crate::output::print;

#[derive(Args)]
pub(crate) struct ContractArgs {
    address: String,
}

pub(crate) async fn run(args: ContractArgs, context: &Context) -> anyhow::Result<()> {
    let address = Address::from_hex(&args.address).map_err(|error| anyhow!(error))?;
    let contract = context
        .client()?
        .contract(&address)
        .await?
        .ok_or_else(|| anyhow!("no contract at {}", args.address))?;
    print(context.json, &serde_json::to_value(&contract)?, || {
        format!(
            "contract {}\ncode hash {}\ndeployed by {} at height {}\nABI: {}",
            contract.address,
            contract.code_hash,
            contract.deployer,
            contract.deployed_at,
            if contract.abi.is_some() {
                "stored"
            } else {
                "none"
            }
        )
    });
    Ok(())
}
