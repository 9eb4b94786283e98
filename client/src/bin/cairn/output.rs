//! How results are printed: text for people, JSON with `--json`; receipts
//! decoded through the contract's ABI where there is one.

use cairn_client::abi::{Abi, Method};
use cairn_client::api::ReceiptView;
use cairn_types::{STATUS_DEPLOY_REJECTED, rejection_code, rejection_name, status_name};
use serde_json::{Value, json};

pub(crate) fn print(json: bool, value: &Value, text: impl FnOnce() -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        println!("{}", text());
    }
}

pub(crate) fn describe_failure(status: u32, output: &[u8], method: &Method) -> String {
    let name = status_name(status);
    match status {
        // Reverted: the output is the method's error value.
        10 => format!(
            "reverted with {} 0x{}",
            method.error.as_deref().unwrap_or("data"),
            hex::encode(output)
        ),
        9 => format!("{name}: {}", String::from_utf8_lossy(output)),
        STATUS_DEPLOY_REJECTED => describe_rejection(output),
        _ => name.to_owned(),
    }
}

/// A rejected deploy's output is the rejection's fixed code, not text.
fn describe_rejection(output: &[u8]) -> String {
    let name = status_name(STATUS_DEPLOY_REJECTED);
    match rejection_code(output) {
        Some(code) => format!(
            "{name}: {} (code {code:#06x}; `cairn-vm check` on the code says where)",
            rejection_name(code)
        ),
        None => format!("{name}: 0x{}", hex::encode(output)),
    }
}

pub(crate) fn receipt_json(
    receipt: &ReceiptView,
    method: Option<&Method>,
    abi: Option<&Abi>,
) -> Value {
    let mut value = serde_json::to_value(receipt).unwrap_or(Value::Null);
    let output = hex::decode(&receipt.output).unwrap_or_default();
    // `value` is the native value the transaction moved; what the method
    // returned, decoded, is `returned`.
    if receipt.status == 0
        && let Some(method) = method
        && let Ok(decoded) = method.decode_output(&output)
    {
        value["returned"] = decoded;
    }
    if let Some(abi) = abi {
        let events: Vec<Value> = receipt
            .events
            .iter()
            .map(|event| {
                let topic = hex::decode(&event.topic).unwrap_or_default();
                let data = hex::decode(&event.data).unwrap_or_default();
                json!({
                    "contract": event.contract,
                    "event": String::from_utf8_lossy(&topic),
                    "fields": abi.decode_event(&topic, &data),
                })
            })
            .collect();
        value["decoded_events"] = Value::Array(events);
    }
    value
}

pub(crate) fn describe_receipt(
    receipt: &ReceiptView,
    method: Option<&Method>,
    abi: Option<&Abi>,
) -> String {
    let output = hex::decode(&receipt.output).unwrap_or_default();
    let outcome = match (receipt.status, method) {
        (0, Some(method)) => match method.decode_output(&output) {
            Ok(Value::Null) => "ok".to_owned(),
            Ok(value) => format!("ok: {value}"),
            Err(_) => format!("ok: 0x{}", receipt.output),
        },
        (0, None) => "ok".to_owned(),
        (status, Some(method)) => describe_failure(status, &output, method),
        (STATUS_DEPLOY_REJECTED, None) => describe_rejection(&output),
        (status, None) => format!(
            "{}{}",
            status_name(status),
            if output.is_empty() {
                String::new()
            } else {
                format!(": {}", String::from_utf8_lossy(&output))
            }
        ),
    };
    let mut text = format!(
        "{outcome}\ntx {} in block {} (gas {}, fee {}, of it burned {})",
        receipt.tx_hash, receipt.height, receipt.gas_used, receipt.fee, receipt.burned
    );
    if receipt.value > 0 {
        text.push_str(&format!("\nvalue moved {}", receipt.value));
    }
    for event in &receipt.events {
        let topic = hex::decode(&event.topic).unwrap_or_default();
        let data = hex::decode(&event.data).unwrap_or_default();
        let fields = abi
            .and_then(|abi| abi.decode_event(&topic, &data))
            .map_or_else(|| format!("0x{}", event.data), |fields| fields.to_string());
        text.push_str(&format!(
            "\nevent {} {fields}",
            String::from_utf8_lossy(&topic)
        ));
    }
    text
}
