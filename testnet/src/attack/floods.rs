//! The floods themselves: tasks that send until the budget is spent, each
//! on a connection of its own, and count what comes back.

use std::sync::Arc;
use std::time::Duration;

use cairn_client::Client;
use cairn_types::limits::{MAX_INPUT_BYTES, MAX_TX_BYTES};
use cairn_types::{Action, PrivateKey};
use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::params::BatchRequestBuilder;
use jsonrpsee::rpc_params;
use parity_scale_codec::Encode;

use super::{Attack, Outcomes, REQUEST_TIMEOUT, Setup, Spent, Target, kind_of, receipt_by};

/// Nonces a gapped sender uses, after the gap at 0: below the node's
/// bound on how far ahead of an account a transaction may be.
const GAPPED_NONCES: std::ops::RangeInclusive<u64> = 1..=63;

pub(super) async fn run(
    target: &Target,
    setup: &Setup,
    attack: &Attack,
    spent: &Arc<Spent>,
) -> anyhow::Result<Outcomes> {
    let connections = match attack {
        Attack::Queries { connections, .. }
        | Attack::Gapped { connections, .. }
        | Attack::Oversized { connections } => (*connections).max(1),
        // One funded account per connection.
        Attack::Spin { accounts } => (*accounts).clamp(1, setup.spinners.len().max(1)),
        Attack::Nothing => {
            while !spent.over() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            return Ok(Outcomes::default());
        }
    };
    // A request still out when the flood ends holds it up at most this
    // long: the whole attack ends within twice its duration.
    let timeout = spent
        .budget
        .duration
        .clamp(Duration::from_secs(1), REQUEST_TIMEOUT);
    let mut tasks = Vec::new();
    for index in 0..connections {
        // A client of its own: a connection of its own.
        let client = Client::with_timeout(&target.urls[index % target.nodes()], timeout)?;
        let spent = Arc::clone(spent);
        let target = target.clone();
        let setup = setup.clone();
        let attack = attack.clone();
        tasks.push(tokio::spawn(async move {
            match attack {
                Attack::Queries { batch, .. } => queries(&client, &setup, batch, &spent).await,
                Attack::Gapped {
                    batch, input_bytes, ..
                } => gapped(&client, &target, &setup, batch, input_bytes, &spent).await,
                Attack::Oversized { .. } => oversized(&client, index, &spent).await,
                Attack::Spin { .. } => spin(&client, &target, &setup, index, &spent).await,
                Attack::Nothing => Outcomes::default(),
            }
        }));
    }
    let mut outcomes = Outcomes::default();
    for task in tasks {
        outcomes.merge(task.await?);
    }
    Ok(outcomes)
}

/// Sends `batch` and counts each call's outcome (or the whole batch's, if
/// the batch itself failed).
async fn send_batch(
    client: &Client,
    batch: BatchRequestBuilder<'_>,
    calls: usize,
    answered: &str,
    outcomes: &mut Outcomes,
) {
    match client.api().batch_request::<serde_json::Value>(batch).await {
        Ok(responses) => {
            for response in responses {
                match response {
                    Ok(_) => outcomes.add(answered),
                    Err(error) => {
                        let error = jsonrpsee::core::ClientError::Call(error.into_owned());
                        outcomes.add(kind_of(&error));
                    }
                }
            }
        }
        Err(error) => {
            let kind = kind_of(&error);
            for _ in 0..calls {
                outcomes.add(kind.clone());
            }
        }
    }
}

async fn queries(client: &Client, setup: &Setup, batch: usize, spent: &Spent) -> Outcomes {
    let mut outcomes = Outcomes::default();
    let contract = setup.hasher.to_string();
    // A hash chain of u32::MAX rounds, with all the gas there is: only the
    // node's cap stops it.
    let input = hex::encode(([7u8; 32], u32::MAX).encode());
    let request_bytes =
        u64::try_from(batch * (input.len() + contract.len() + 96)).unwrap_or(u64::MAX);
    while spent.take(request_bytes) {
        let mut requests = BatchRequestBuilder::new();
        for _ in 0..batch {
            if requests
                .insert(
                    "cairn_query",
                    rpc_params![contract.clone(), "hash_chain", input.clone(), u64::MAX],
                )
                .is_err()
            {
                outcomes.add("unencodable");
            }
        }
        send_batch(client, requests, batch, "answered", &mut outcomes).await;
    }
    outcomes
}

async fn gapped(
    client: &Client,
    target: &Target,
    setup: &Setup,
    batch: usize,
    input_bytes: usize,
    spent: &Spent,
) -> Outcomes {
    let mut outcomes = Outcomes::default();
    let input = vec![0x5a; input_bytes.min(MAX_INPUT_BYTES)];
    let mut sender: Option<(PrivateKey, u64)> = None;
    // The funded senders in turn; each never sends its nonce 0, so none of
    // its transactions can execute. A mempool keeps only so many of one
    // sender's transactions behind a gap, so floods of empty and of large
    // inputs use a half of the senders each: one does not find the other's
    // senders already at their bound.
    let half = setup.gapped.len() / 2;
    let (small, large) = setup.gapped.split_at(half);
    let mut senders = if input_bytes == 0 { small } else { large }.iter().cycle();
    loop {
        spent.pace().await;
        if spent.over() {
            break;
        }
        let mut requests = BatchRequestBuilder::new();
        let mut bytes = 0u64;
        for _ in 0..batch {
            let (key, nonce) = match sender.take() {
                Some((key, nonce)) if GAPPED_NONCES.contains(&nonce) => (key, nonce),
                // The next sender: its account's next nonce is 0, never sent.
                _ => match senders.next() {
                    Some(key) => (key.clone(), *GAPPED_NONCES.start()),
                    None => return outcomes,
                },
            };
            let tx = target.sign(
                &key,
                nonce,
                setup.max_tx_gas,
                Action::Call {
                    contract: setup.counter,
                    method: "increment".into(),
                    input: input.clone(),
                },
            );
            sender = Some((key, nonce + 1));
            let encoded = hex::encode(tx.encode());
            bytes += u64::try_from(encoded.len()).unwrap_or(u64::MAX);
            if requests
                .insert("cairn_submitTransaction", rpc_params![encoded])
                .is_err()
            {
                outcomes.add("unencodable");
            }
        }
        if !spent.take(bytes) {
            break;
        }
        send_batch(client, requests, batch, "accepted", &mut outcomes).await;
    }
    outcomes
}

async fn oversized(client: &Client, index: usize, spent: &Spent) -> Outcomes {
    let mut outcomes = Outcomes::default();
    // One byte over a transaction's limit, and well over the server's body
    // limit (a largest transaction as hex, with room for JSON).
    let over_transaction = "00".repeat(MAX_TX_BYTES + 1);
    let over_body = "00".repeat(3 * MAX_TX_BYTES);
    let mut round = index;
    loop {
        let body = if round.is_multiple_of(2) {
            &over_transaction
        } else {
            &over_body
        };
        round += 1;
        if !spent.take(u64::try_from(body.len()).unwrap_or(u64::MAX)) {
            break;
        }
        match client
            .api()
            .request::<serde_json::Value, _>("cairn_submitTransaction", rpc_params![body])
            .await
        {
            Ok(_) => outcomes.add("accepted"),
            Err(error) => outcomes.add(kind_of(&error)),
        }
    }
    outcomes
}

/// One account's transactions, each asking for the most gas there is and
/// spending all of it (a hash chain of `u32::MAX` rounds), one at a time:
/// the next is sent when the last one's receipt is in. Counts the
/// receipts by status.
async fn spin(
    client: &Client,
    target: &Target,
    setup: &Setup,
    index: usize,
    spent: &Spent,
) -> Outcomes {
    let mut outcomes = Outcomes::default();
    // A funded account of its own, so that its nonces are its alone.
    let Some(key) = setup.spinners.get(index) else {
        return outcomes;
    };
    let mut nonce = match client.account(&cairn_types::keys::address(key)).await {
        Ok(account) => account.pending_nonce,
        Err(_) => {
            outcomes.add("its account unreadable");
            return outcomes;
        }
    };
    let input = ([7u8; 32], u32::MAX).encode();
    loop {
        let tx = target.sign(
            key,
            nonce,
            setup.max_tx_gas,
            Action::Call {
                contract: setup.hasher,
                method: "hash_chain".into(),
                input: input.clone(),
            },
        );
        let encoded = hex::encode(tx.encode());
        if !spent.take(u64::try_from(encoded.len()).unwrap_or(u64::MAX)) {
            break;
        }
        if let Err(error) = client
            .api()
            .request::<serde_json::Value, _>("cairn_submitTransaction", rpc_params![encoded])
            .await
        {
            outcomes.add(kind_of(&error));
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        nonce += 1;
        // Within the attack's time only (which may be lengthened while
        // waiting): what is still pending then is the backlog the honest
        // client waits behind.
        let receipt = loop {
            if let Some(receipt) = receipt_by(client, &tx.hash(), spent.deadline()).await {
                break Some(receipt);
            }
            if spent.over() {
                break None;
            }
        };
        match receipt {
            Some(receipt) => outcomes.add(format!("receipts {}", receipt.status_name)),
            None => {
                outcomes.add("pending at the end");
                break;
            }
        }
    }
    outcomes
}
