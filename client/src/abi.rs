//! Calling contracts by name: a contract's ABI (as `cargo cairn build`
//! writes it) turns JSON arguments into the SCALE input a method reads, and
//! its SCALE output and events back into JSON.
//!
//! Types are the Rust type names the ABI records. Integers, `bool`,
//! `String`, `Address`, `[u8; N]`, `Vec<T>`, `Option<T>`, tuples and `()`
//! are understood; a contract's own structs and enums are not described by
//! the ABI, so they travel as hex of their SCALE encoding.
//!
//! JSON conventions: integers as numbers or decimal strings (use strings
//! above 2^53), addresses and byte arrays as hex, `Option` as `null` or the
//! value, vectors and tuples as arrays.

use std::fmt;

use parity_scale_codec::{Compact, Decode, Encode};
use serde_json::{Value, json};

/// How deeply types may nest (`Vec<Option<(u8, Vec<..>)>>`): the parser
/// recurses once per level, and an ABI is untrusted input (it arrives with
/// a deploy), so a hostile one must not overflow the stack. Real contracts
/// nest a few levels.
pub const MAX_TYPE_DEPTH: usize = 32;

/// What is wrong with an ABI, arguments or data, with the context it was
/// found in, outermost first (`argument `to`: an address is 32 bytes`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct AbiError {
    message: String,
}

impl AbiError {
    fn new(message: impl fmt::Display) -> Self {
        AbiError {
            message: message.to_string(),
        }
    }

    /// Prefixes where the error was found.
    fn context(self, context: impl fmt::Display) -> Self {
        AbiError {
            message: format!("{context}: {}", self.message),
        }
    }
}

type Result<T> = std::result::Result<T, AbiError>;

macro_rules! bail {
    ($($arg:tt)*) => {
        return Err(AbiError::new(format!($($arg)*)))
    };
}

macro_rules! anyhow {
    ($($arg:tt)*) => {
        AbiError::new(format!($($arg)*))
    };
}

/// Adds context to an error, as `anyhow::Context` does for binaries.
trait Context<T> {
    fn context(self, context: &str) -> Result<T>;
    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, context: &str) -> Result<T> {
        self.map_err(|error| AbiError::new(error).context(context))
    }

    fn with_context<C: fmt::Display>(self, context: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|error| AbiError::new(error).context(context()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbiType {
    Bool,
    Unsigned(u32),
    Signed(u32),
    String,
    Address,
    ByteArray(usize),
    Bytes,
    Vec(Box<AbiType>),
    Option(Box<AbiType>),
    Tuple(Vec<AbiType>),
    /// A type the ABI does not describe: its SCALE encoding, as hex.
    Opaque(String),
}

impl AbiType {
    pub fn parse(text: &str) -> Result<Self> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let (ty, rest) = parse_type(&compact, 0)?;
        if !rest.is_empty() {
            bail!("unexpected `{rest}` after type in `{text}`");
        }
        Ok(ty)
    }
}

fn parse_type(text: &str, depth: usize) -> Result<(AbiType, &str)> {
    if depth >= MAX_TYPE_DEPTH {
        bail!("the type nests more than {MAX_TYPE_DEPTH} levels deep");
    }
    if let Some(rest) = text.strip_prefix('(') {
        let mut items = Vec::new();
        let mut rest = rest;
        if let Some(after) = rest.strip_prefix(')') {
            return Ok((AbiType::Tuple(items), after));
        }
        loop {
            let (item, after) = parse_type(rest, depth + 1)?;
            items.push(item);
            if let Some(after) = after.strip_prefix(',') {
                rest = after;
                if let Some(after) = rest.strip_prefix(')') {
                    return Ok((AbiType::Tuple(items), after));
                }
            } else if let Some(after) = after.strip_prefix(')') {
                return Ok((AbiType::Tuple(items), after));
            } else {
                bail!("unclosed tuple type");
            }
        }
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (item, after) = parse_type(rest, depth + 1)?;
        let after = after
            .strip_prefix(';')
            .ok_or_else(|| anyhow!("array type without `;`"))?;
        let end = after
            .find(']')
            .ok_or_else(|| anyhow!("array type without `]`"))?;
        let length: usize = after[..end].parse().context("array length")?;
        if item != AbiType::Unsigned(8) {
            bail!("only byte arrays are supported, not arrays of {item:?}");
        }
        return Ok((AbiType::ByteArray(length), &after[end + 1..]));
    }
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    let (name, rest) = text.split_at(end);
    let name = name.rsplit("::").next().unwrap_or(name);
    if let Some(rest) = rest.strip_prefix('<') {
        let (inner, after) = parse_type(rest, depth + 1)?;
        let after = after
            .strip_prefix('>')
            .ok_or_else(|| anyhow!("unclosed `<` in type {name}"))?;
        let ty = match name {
            "Vec" if inner == AbiType::Unsigned(8) => AbiType::Bytes,
            "Vec" => AbiType::Vec(Box::new(inner)),
            "Option" => AbiType::Option(Box::new(inner)),
            other => AbiType::Opaque(format!("{other}<..>")),
        };
        return Ok((ty, after));
    }
    let ty = match name {
        "bool" => AbiType::Bool,
        "u8" => AbiType::Unsigned(8),
        "u16" => AbiType::Unsigned(16),
        "u32" => AbiType::Unsigned(32),
        "u64" => AbiType::Unsigned(64),
        "u128" => AbiType::Unsigned(128),
        "i8" => AbiType::Signed(8),
        "i16" => AbiType::Signed(16),
        "i32" => AbiType::Signed(32),
        "i64" => AbiType::Signed(64),
        "i128" => AbiType::Signed(128),
        "String" => AbiType::String,
        "Address" => AbiType::Address,
        "" => bail!("empty type"),
        other => AbiType::Opaque(other.to_owned()),
    };
    Ok((ty, rest))
}

fn hex_bytes(value: &Value, what: &str) -> Result<Vec<u8>> {
    let text = value
        .as_str()
        .ok_or_else(|| anyhow!("{what} must be a hex string, not {value}"))?;
    hex::decode(text.strip_prefix("0x").unwrap_or(text))
        .with_context(|| format!("{what} `{text}` is not hex"))
}

fn integer(value: &Value) -> Result<i128> {
    match value {
        Value::Number(number) => number
            .as_i64()
            .map(i128::from)
            .or_else(|| number.as_u64().map(i128::from))
            .ok_or_else(|| anyhow!("{number} is not an integer")),
        Value::String(text) => text
            .parse::<i128>()
            .with_context(|| format!("`{text}` is not an integer")),
        other => bail!("expected an integer, found {other}"),
    }
}

fn unsigned(value: &Value) -> Result<u128> {
    if let Value::String(text) = value {
        return text
            .parse::<u128>()
            .with_context(|| format!("`{text}` is not an unsigned integer"));
    }
    u128::try_from(integer(value)?).map_err(|_| anyhow!("{value} is negative"))
}

/// Appends `value`'s SCALE encoding as `ty` to `out`.
pub fn encode_value(ty: &AbiType, value: &Value, out: &mut Vec<u8>) -> Result<()> {
    match ty {
        AbiType::Bool => value
            .as_bool()
            .ok_or_else(|| anyhow!("expected true or false, found {value}"))?
            .encode_to(out),
        AbiType::Unsigned(bits) => {
            let number = unsigned(value)?;
            if *bits < 128 && number >> bits != 0 {
                bail!("{number} does not fit in u{bits}");
            }
            let bytes = number.to_le_bytes();
            out.extend_from_slice(&bytes[..(*bits / 8) as usize]);
        }
        AbiType::Signed(bits) => {
            let number = integer(value)?;
            let (min, max) = if *bits == 128 {
                (i128::MIN, i128::MAX)
            } else {
                (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
            };
            if number < min || number > max {
                bail!("{number} does not fit in i{bits}");
            }
            let bytes = number.to_le_bytes();
            out.extend_from_slice(&bytes[..(*bits / 8) as usize]);
        }
        AbiType::String => value
            .as_str()
            .ok_or_else(|| anyhow!("expected a string, found {value}"))?
            .encode_to(out),
        AbiType::Address => {
            let bytes = hex_bytes(value, "an address")?;
            if bytes.len() != 32 {
                bail!("an address is 32 bytes, not {}", bytes.len());
            }
            out.extend_from_slice(&bytes);
        }
        AbiType::ByteArray(length) => {
            let bytes = hex_bytes(value, "a byte array")?;
            if bytes.len() != *length {
                bail!("expected {length} bytes, found {}", bytes.len());
            }
            out.extend_from_slice(&bytes);
        }
        AbiType::Bytes => hex_bytes(value, "bytes")?.encode_to(out),
        AbiType::Vec(item) => {
            let items = value
                .as_array()
                .ok_or_else(|| anyhow!("expected an array, found {value}"))?;
            Compact(u32::try_from(items.len()).context("the array is too long")?).encode_to(out);
            for item_value in items {
                encode_value(item, item_value, out)?;
            }
        }
        AbiType::Option(inner) => {
            if value.is_null() {
                out.push(0);
            } else {
                out.push(1);
                encode_value(inner, value, out)?;
            }
        }
        AbiType::Tuple(items) => {
            let values = value
                .as_array()
                .ok_or_else(|| anyhow!("expected an array for a tuple, found {value}"))?;
            if values.len() != items.len() {
                bail!(
                    "the tuple has {} items, {} given",
                    items.len(),
                    values.len()
                );
            }
            for (item, item_value) in items.iter().zip(values) {
                encode_value(item, item_value, out)?;
            }
        }
        AbiType::Opaque(name) => {
            out.extend_from_slice(&hex_bytes(value, &format!("{name} (SCALE hex)"))?);
        }
    }
    Ok(())
}

/// Decodes one value of `ty` from the front of `input`.
pub fn decode_value(ty: &AbiType, input: &mut &[u8]) -> Result<Value> {
    let take = |input: &mut &[u8], length: usize| -> Result<Vec<u8>> {
        if input.len() < length {
            bail!("the data ends early");
        }
        let (head, tail) = input.split_at(length);
        *input = tail;
        Ok(head.to_vec())
    };
    Ok(match ty {
        AbiType::Bool => Value::Bool(bool::decode(input).map_err(|e| anyhow!("{e}"))?),
        AbiType::Unsigned(bits) => {
            let bytes = take(input, (*bits / 8) as usize)?;
            let mut wide = [0u8; 16];
            wide[..bytes.len()].copy_from_slice(&bytes);
            let number = u128::from_le_bytes(wide);
            match u64::try_from(number) {
                Ok(small) if small < (1 << 53) => json!(small),
                _ => Value::String(number.to_string()),
            }
        }
        AbiType::Signed(bits) => {
            let bytes = take(input, (*bits / 8) as usize)?;
            let negative = bytes.last().is_some_and(|byte| byte & 0x80 != 0);
            let mut wide = if negative { [0xff; 16] } else { [0; 16] };
            wide[..bytes.len()].copy_from_slice(&bytes);
            let number = i128::from_le_bytes(wide);
            match i64::try_from(number) {
                Ok(small) if small.unsigned_abs() < (1 << 53) => json!(small),
                _ => Value::String(number.to_string()),
            }
        }
        AbiType::String => Value::String(String::decode(input).map_err(|e| anyhow!("{e}"))?),
        AbiType::Address => Value::String(hex::encode(take(input, 32)?)),
        AbiType::ByteArray(length) => Value::String(hex::encode(take(input, *length)?)),
        AbiType::Bytes => Value::String(hex::encode(
            Vec::<u8>::decode(input).map_err(|e| anyhow!("{e}"))?,
        )),
        AbiType::Vec(item) => {
            let Compact(length) = Compact::<u32>::decode(input).map_err(|e| anyhow!("{e}"))?;
            // Each item takes at least a byte: a length beyond the data is
            // corrupt, not a reason to allocate.
            if length as usize > input.len() {
                bail!("a vector of {length} items in {} bytes", input.len());
            }
            let mut items = Vec::with_capacity(length as usize);
            for _ in 0..length {
                items.push(decode_value(item, input)?);
            }
            Value::Array(items)
        }
        AbiType::Option(inner) => match take(input, 1)?[0] {
            0 => Value::Null,
            1 => decode_value(inner, input)?,
            other => bail!("invalid Option tag {other}"),
        },
        AbiType::Tuple(items) => Value::Array(
            items
                .iter()
                .map(|item| decode_value(item, input))
                .collect::<Result<_>>()?,
        ),
        // Undescribed: the rest of the data is all we can show.
        AbiType::Opaque(_) => {
            let rest = input.to_vec();
            *input = &[];
            Value::String(hex::encode(rest))
        }
    })
}

/// A method of a contract's ABI.
#[derive(Debug, Clone)]
pub struct Method {
    pub name: String,
    pub mutates: bool,
    /// Accepts native value (`#[payable]`); every other method refuses it.
    pub payable: bool,
    pub args: Vec<(String, AbiType)>,
    pub returns: Option<AbiType>,
    pub error: Option<String>,
}

/// The methods and events of a contract, from its ABI JSON.
#[derive(Debug, Clone)]
pub struct Abi {
    pub contract: String,
    pub methods: Vec<Method>,
    /// Event name (the topic) and its fields.
    pub events: Vec<(String, Vec<(String, AbiType)>)>,
}

fn fields(list: &Value) -> Result<Vec<(String, AbiType)>> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .map(|field| {
                    let name = field["name"].as_str().unwrap_or("").to_owned();
                    let ty = field["type"]
                        .as_str()
                        .ok_or_else(|| anyhow!("field {name} has no type"))?;
                    Ok((name, AbiType::parse(ty)?))
                })
                .collect()
        })
        .unwrap_or_else(|| Ok(Vec::new()))
}

impl Abi {
    pub fn from_json(abi: &Value) -> Result<Self> {
        let methods = abi["methods"]
            .as_array()
            .ok_or_else(|| anyhow!("the ABI has no methods list"))?
            .iter()
            .map(|method| {
                let name = method["name"]
                    .as_str()
                    .ok_or_else(|| anyhow!("a method has no name"))?
                    .to_owned();
                let returns = match &method["returns"] {
                    Value::String(ty) => Some(AbiType::parse(ty)?),
                    _ => None,
                };
                Ok(Method {
                    mutates: method["mutates"].as_bool().unwrap_or(true),
                    payable: method["payable"].as_bool().unwrap_or(false),
                    args: fields(&method["args"]).with_context(|| format!("method {name}"))?,
                    returns,
                    error: method["error"].as_str().map(str::to_owned),
                    name,
                })
            })
            .collect::<Result<_>>()?;
        let events = abi["events"]
            .as_array()
            .map(|events| {
                events
                    .iter()
                    .map(|event| {
                        let name = event["event"].as_str().unwrap_or("").to_owned();
                        Ok((name, fields(&event["fields"])?))
                    })
                    .collect::<Result<_>>()
            })
            .transpose()?
            .unwrap_or_default();
        Ok(Abi {
            contract: abi["contract"].as_str().unwrap_or("").to_owned(),
            methods,
            events,
        })
    }

    pub fn method(&self, name: &str) -> Result<&Method> {
        self.methods
            .iter()
            .find(|method| method.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.methods.iter().map(|m| m.name.as_str()).collect();
                anyhow!(
                    "{} has no method `{name}`; it has: {}",
                    self.contract,
                    names.join(", ")
                )
            })
    }

    /// Decodes an event's data by its topic, if the ABI describes it.
    pub fn decode_event(&self, topic: &[u8], data: &[u8]) -> Option<Value> {
        let name = std::str::from_utf8(topic).ok()?;
        let (_, fields) = self.events.iter().find(|(event, _)| event == name)?;
        let mut input = data;
        let mut object = serde_json::Map::new();
        for (field, ty) in fields {
            object.insert(field.clone(), decode_value(ty, &mut input).ok()?);
        }
        input.is_empty().then_some(Value::Object(object))
    }
}

impl Method {
    /// The SCALE input for `args`: a JSON array in argument order, or an
    /// object by argument name.
    pub fn encode_args(&self, args: &Value) -> Result<Vec<u8>> {
        let values: Vec<&Value> = match args {
            Value::Array(items) => items.iter().collect(),
            Value::Object(map) => self
                .args
                .iter()
                .map(|(name, _)| {
                    map.get(name)
                        .ok_or_else(|| anyhow!("argument `{name}` is missing"))
                })
                .collect::<Result<_>>()?,
            Value::Null => Vec::new(),
            single if self.args.len() == 1 => vec![single],
            other => bail!("arguments must be a JSON array or object, not {other}"),
        };
        if values.len() != self.args.len() {
            let expected: Vec<String> = self
                .args
                .iter()
                .map(|(name, ty)| format!("{name}: {ty:?}"))
                .collect();
            bail!(
                "`{}` takes {} arguments ({}), {} given",
                self.name,
                self.args.len(),
                expected.join(", "),
                values.len()
            );
        }
        let mut out = Vec::new();
        for ((name, ty), value) in self.args.iter().zip(values) {
            encode_value(ty, value, &mut out).with_context(|| format!("argument `{name}`"))?;
        }
        Ok(out)
    }

    /// The JSON of a successful call's output.
    pub fn decode_output(&self, output: &[u8]) -> Result<Value> {
        let Some(ty) = &self.returns else {
            return Ok(Value::Null);
        };
        let mut input = output;
        let value = decode_value(ty, &mut input)?;
        if !input.is_empty() {
            bail!("{} bytes left after the return value", input.len());
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse() {
        assert_eq!(
            AbiType::parse("Vec<(Address,u128)>").unwrap(),
            AbiType::Vec(Box::new(AbiType::Tuple(vec![
                AbiType::Address,
                AbiType::Unsigned(128)
            ])))
        );
        assert_eq!(AbiType::parse("[u8; 32]").unwrap(), AbiType::ByteArray(32));
        assert_eq!(AbiType::parse("()").unwrap(), AbiType::Tuple(vec![]));
        assert_eq!(AbiType::parse("Vec<u8>").unwrap(), AbiType::Bytes);
        assert_eq!(
            AbiType::parse("Option<Deal>").unwrap(),
            AbiType::Option(Box::new(AbiType::Opaque("Deal".into())))
        );
        assert!(AbiType::parse("Vec<u8").is_err());
    }

    #[test]
    fn types_nest_up_to_the_limit_and_deeper_ones_are_refused() {
        let nested =
            |depth: usize| format!("{}u8{}", "Option<".repeat(depth - 1), ">".repeat(depth - 1));
        assert!(AbiType::parse(&nested(MAX_TYPE_DEPTH)).is_ok());
        let error = AbiType::parse(&nested(MAX_TYPE_DEPTH + 1)).unwrap_err();
        assert!(
            error.to_string().contains("nests more than 32 levels"),
            "{error}"
        );
        // Far deeper than any stack would take unbounded: a clear error.
        for deep in [
            "(".repeat(1_000_000),
            "[".repeat(1_000_000),
            "Vec<".repeat(1_000_000),
        ] {
            let error = AbiType::parse(&deep).unwrap_err();
            assert!(error.to_string().contains("nests more than"), "{error}");
        }
        // Through an ABI: the method and argument are named.
        let abi = json!({
            "contract": "Deep",
            "methods": [{"name": "f", "args": [{"name": "x", "type": "Vec<".repeat(100_000)}]}],
        });
        let error = Abi::from_json(&abi).unwrap_err().to_string();
        assert!(error.starts_with("method f: "), "{error}");
        assert!(error.contains("nests more than"), "{error}");
    }

    #[test]
    fn values_match_parity_scale_codec() {
        let cases: Vec<(&str, Value, Vec<u8>)> = vec![
            ("u64", json!(7), 7u64.encode()),
            (
                "u128",
                json!("340282366920938463463374607431768211455"),
                u128::MAX.encode(),
            ),
            ("i32", json!(-5), (-5i32).encode()),
            ("bool", json!(true), true.encode()),
            ("String", json!("héllo"), "héllo".encode()),
            ("Option<u32>", json!(null), None::<u32>.encode()),
            ("Option<u32>", json!(9), Some(9u32).encode()),
            ("Vec<u16>", json!([1, 2, 3]), vec![1u16, 2, 3].encode()),
            ("(u8,String)", json!([1, "a"]), (1u8, "a").encode()),
            ("[u8;2]", json!("0102"), [1u8, 2].encode()),
            ("Vec<u8>", json!("0102"), vec![1u8, 2].encode()),
        ];
        for (ty, value, encoded) in cases {
            let ty_parsed = AbiType::parse(ty).unwrap();
            let mut out = Vec::new();
            encode_value(&ty_parsed, &value, &mut out).unwrap();
            assert_eq!(out, encoded, "{ty} {value}");
            let mut input = encoded.as_slice();
            assert_eq!(decode_value(&ty_parsed, &mut input).unwrap(), value, "{ty}");
            assert!(input.is_empty());
        }
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        let abi = Abi::from_json(&json!({
            "contract": "Counter",
            "methods": [{"name": "increment", "mutates": true, "args": [{"name": "step", "type": "u8"}], "returns": "u64"}],
            "events": []
        }))
        .unwrap();
        let method = abi.method("increment").unwrap();
        assert_eq!(method.encode_args(&json!([5])).unwrap(), vec![5]);
        assert_eq!(method.encode_args(&json!({"step": 5})).unwrap(), vec![5]);
        let error = format!("{:#}", method.encode_args(&json!([300])).unwrap_err());
        assert!(error.contains("does not fit in u8"), "{error}");
        let error = format!("{:#}", method.encode_args(&json!([1, 2])).unwrap_err());
        assert!(error.contains("takes 1 arguments"), "{error}");
        let error = abi.method("decrement").unwrap_err().to_string();
        assert!(error.contains("increment"), "{error}");
        // A huge claimed vector length is an error, not an allocation.
        let mut input: &[u8] = &[0xfe, 0xff, 0xff, 0xff];
        assert!(decode_value(&AbiType::parse("Vec<u64>").unwrap(), &mut input).is_err());
    }
}
