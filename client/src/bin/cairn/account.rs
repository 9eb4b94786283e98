//! `cairn account <address>`: an account's nonces and balance.

use anyhow::anyhow;
use cairn_types::Address;
use clap::Args;

use crate::Context;
use crate::output::print;

#[derive(Args)]
pub(crate) struct AccountArgs {
    address: String,
}

pub(crate) async fn run(args: AccountArgs, context: &Context) -> anyhow::Result<()> {
    let address = Address::from_hex(&args.address).map_err(|error| anyhow!(error))?;
    let account = context.client()?.account(&address).await?;
    print(context.json, &serde_json::to_value(&account)?, || {
        format!(
            "account {}\nbalance {}\nnonce {} (next to use: {})",
            account.address, account.balance, account.nonce, account.pending_nonce
        )
    });
    Ok(())
}
