//! `cairn keys new|show`: account key files.

use std::path::PathBuf;

use cairn_types::keys;
use clap::Subcommand;
use serde_json::json;

use crate::Context;
use crate::output::print;

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Generates a key into a new file.
    New { file: PathBuf },
    /// Prints the address of a key file.
    Show { file: PathBuf },
}

pub(crate) fn run(command: KeysCommand, context: &Context) -> anyhow::Result<()> {
    match command {
        KeysCommand::New { file } => {
            let key = keys::generate();
            keys::save(&key, &file)?;
            let address = keys::address(&key).to_string();
            print(
                context.json,
                &json!({ "address": address, "file": file }),
                || format!("address {address}\nsaved to {}", file.display()),
            );
        }
        KeysCommand::Show { file } => {
            let address = keys::address(&keys::load(&file)?).to_string();
            print(context.json, &json!({ "address": address }), || {
                address.clone()
            });
        }
    }
    Ok(())
}
