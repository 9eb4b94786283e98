//! `cairn balance <address>`: what an account or contract holds.

use clap::Args;

use crate::Context;
use crate::output::print;
use crate::send::parse_address;

#[derive(Args)]
pub(crate) struct BalanceArgs {
    /// An account's or a contract's address (64 hex digits).
    address: String,
}

pub(crate) async fn run(args: BalanceArgs, context: &Context) -> anyhow::Result<()> {
    let address = parse_address(&args.address)?;
    let account = context.client()?.account(&address).await?;
    print(context.json, &serde_json::to_value(&account)?, || {
        account.balance.to_string()
    });
    Ok(())
}
