//! `cairn receipt <hash>`: a committed transaction's receipt.

use anyhow::anyhow;
use cairn_types::parse_hash;
use clap::Args;

use crate::Context;
use crate::output::{describe_receipt, print};

#[derive(Args)]
pub(crate) struct ReceiptArgs {
    hash: String,
}

pub(crate) async fn run(args: ReceiptArgs, context: &Context) -> anyhow::Result<()> {
    let hash = parse_hash(&args.hash).map_err(|error| anyhow!(error))?;
    let receipt = context
        .client()?
        .receipt(&hash)
        .await?
        .ok_or_else(|| anyhow!("no committed transaction {}", args.hash))?;
    print(context.json, &serde_json::to_value(&receipt)?, || {
        describe_receipt(&receipt, None, None)
    });
    Ok(())
}
