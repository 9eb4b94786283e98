//! `cairn status`: the node's chain, height, state root and peers.

use crate::Context;
use crate::output::print;

pub(crate) async fn run(context: &Context) -> anyhow::Result<()> {
    let status = context.client()?.status().await?;
    print(context.json, &serde_json::to_value(&status)?, || {
        format!(
            "chain {} ({})\nheight {} block {}\nstate root {}\npeers: {} consensus, {} gossip; mempool {}{}",
            status.chain_id,
            status.moniker,
            status.height,
            status.block_hash,
            status.state_root,
            status.consensus_peers,
            status.gossip_peers,
            status.mempool_size,
            if status.syncing { "; syncing" } else { "" }
        )
    });
    Ok(())
}
