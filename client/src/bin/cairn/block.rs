//! `cairn block <height|latest|hash>`: a block and its transactions.

use std::fmt::Write as _;

use anyhow::anyhow;
use cairn_types::parse_hash;
use clap::Args;

use crate::Context;
use crate::output::print;

#[derive(Args)]
pub(crate) struct BlockArgs {
    id: String,
}

pub(crate) async fn run(args: BlockArgs, context: &Context) -> anyhow::Result<()> {
    let client = context.client()?;
    let id = args.id;
    let block = if id == "latest" {
        let height = client.status().await?.height;
        client.block(height).await?
    } else if let Ok(height) = id.parse::<u64>() {
        client.block(height).await?
    } else {
        let hash = parse_hash(&id).map_err(|error| anyhow!(error))?;
        client.block_by_hash(&hash).await?
    }
    .ok_or_else(|| anyhow!("no block {id}"))?;
    print(context.json, &serde_json::to_value(&block)?, || {
        let mut text = format!(
            "block {} {}\ntime {} ms, proposer {}\nstate root {}\ngas used {}, {} transactions",
            block.height,
            block.hash,
            block.time_ms,
            block.proposer,
            block.state_root,
            block.gas_used,
            block.transactions.len()
        );
        for tx in &block.transactions {
            let _ = write!(
                text,
                "\n  {} {} {} nonce {}{}",
                tx.hash,
                tx.kind,
                tx.contract.as_deref().unwrap_or(""),
                tx.nonce,
                tx.method
                    .as_deref()
                    .map(|m| format!(" method {m}"))
                    .unwrap_or_default()
            );
        }
        text
    });
    Ok(())
}
