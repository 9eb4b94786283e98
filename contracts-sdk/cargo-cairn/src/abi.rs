//! The ABI the SDK's macros embed as custom sections, and stripping every
//! custom section from the code that gets deployed.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use wasmparser::{Parser, Payload};

/// Section of the `#[contract]` impl block's description (one JSON line).
const CONTRACT_SECTION: &str = "cairn_abi";
/// Section the event derives append their descriptions to (a JSON line each).
const EVENTS_SECTION: &str = "cairn_abi_events";

/// The ABI of a built contract: its name, methods (with `init`) and events.
pub(crate) fn extract(wasm: &[u8]) -> Result<Value> {
    let mut contracts = Vec::new();
    let mut events = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::CustomSection(section) = payload.context("reading the built module")? {
            let target = match section.name() {
                CONTRACT_SECTION => &mut contracts,
                EVENTS_SECTION => &mut events,
                _ => continue,
            };
            for line in String::from_utf8_lossy(section.data()).lines() {
                if !line.trim().is_empty() {
                    target.push(serde_json::from_str::<Value>(line).with_context(|| {
                        format!("the {} section holds invalid JSON: {line}", section.name())
                    })?);
                }
            }
        }
    }
    let contract = match contracts.len() {
        1 => contracts.remove(0),
        0 => bail!("the module has no ABI: is the contract's impl block marked #[contract]?"),
        _ => bail!(
            "the module holds {} #[contract] impl blocks; a contract has one",
            contracts.len()
        ),
    };
    events.sort_by(|a, b| a["event"].as_str().cmp(&b["event"].as_str()));
    events.dedup();
    Ok(json!({
        "contract": contract["contract"],
        "methods": contract["methods"],
        "events": events,
    }))
}

/// The module without any custom section (names, producers, the ABI):
/// nothing that is not needed to run is deployed, and the code hash does
/// not depend on tooling metadata.
pub(crate) fn strip_custom_sections(wasm: &[u8]) -> Result<Vec<u8>> {
    let mut module = wasm_encoder::Module::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.context("reading the built module")?;
        if let Payload::CustomSection(_) = payload {
            continue;
        }
        if let Some((id, range)) = payload.as_section() {
            let start = usize::try_from(range.start)?;
            let end = usize::try_from(range.end)?;
            module.section(&wasm_encoder::RawSection {
                id,
                data: &wasm[start..end],
            });
        }
    }
    Ok(module.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module_with(sections: &[(&str, &str)]) -> Vec<u8> {
        let mut module = wasm_encoder::Module::new();
        module.section(&wasm_encoder::TypeSection::new());
        for (name, data) in sections {
            module.section(&wasm_encoder::CustomSection {
                name: (*name).into(),
                data: data.as_bytes().into(),
            });
        }
        module.finish()
    }

    #[test]
    fn reads_the_contract_and_its_events() {
        let wasm = module_with(&[
            (
                CONTRACT_SECTION,
                "{\"contract\":\"C\",\"methods\":[{\"name\":\"init\"}]}\n",
            ),
            (
                EVENTS_SECTION,
                "{\"event\":\"B\",\"fields\":[]}\n{\"event\":\"A\",\"fields\":[]}\n",
            ),
            ("name", "ignored"),
        ]);
        let abi = extract(&wasm).unwrap();
        assert_eq!(abi["contract"], "C");
        assert_eq!(abi["methods"][0]["name"], "init");
        assert_eq!(abi["events"][0]["event"], "A");
        assert_eq!(abi["events"][1]["event"], "B");
    }

    #[test]
    fn a_module_without_an_abi_is_an_error() {
        let error = extract(&module_with(&[])).unwrap_err();
        assert!(error.to_string().contains("#[contract]"), "{error}");
    }

    #[test]
    fn stripping_keeps_everything_but_custom_sections() {
        let wasm = module_with(&[(CONTRACT_SECTION, "{}"), ("name", "x")]);
        let stripped = strip_custom_sections(&wasm).unwrap();
        assert_eq!(stripped, module_with(&[]));
    }
}
