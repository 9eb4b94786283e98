//! `cairn gas-price`: the next block's base fee, the node's minimum and
//! the price it suggests.

use crate::Context;
use crate::output::print;

pub(crate) async fn run(context: &Context) -> anyhow::Result<()> {
    let prices = context.client()?.gas_price().await?;
    print(context.json, &serde_json::to_value(&prices)?, || {
        format!(
            "suggested {} (base fee {}, this node's minimum {})",
            prices.suggested, prices.base_fee, prices.min_gas_price
        )
    });
    Ok(())
}
