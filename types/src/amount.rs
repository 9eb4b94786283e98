//! Amounts of the native token: `u128` counts of its smallest unit.
//!
//! In JSON (the genesis file, RPC views) an amount is a decimal string:
//! JSON numbers above 2^53 lose precision in JavaScript and in many
//! parsers, and a balance is exactly where a lost digit matters.

/// An amount of the native token, in its smallest unit.
pub type Amount = u128;

/// Parses a decimal amount; `_` may separate digits (`1_000_000`).
pub fn parse_amount(text: &str) -> Result<Amount, String> {
    let digits: String = text.trim().chars().filter(|c| *c != '_').collect();
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(format!("`{text}` is not an amount (decimal digits)"));
    }
    digits
        .parse()
        .map_err(|_| format!("`{text}` is more than the largest amount, {}", u128::MAX))
}

/// `#[serde(with = "cairn_types::amount::as_string")]`: an amount as a
/// decimal string.
pub mod as_string {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(amount: &u128, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&amount.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse_amount(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_with_separators_and_refuse_anything_else() {
        assert_eq!(parse_amount("0"), Ok(0));
        assert_eq!(parse_amount("1_000_000"), Ok(1_000_000));
        assert_eq!(parse_amount(&u128::MAX.to_string()), Ok(u128::MAX));
        assert!(parse_amount("").is_err());
        assert!(parse_amount("-1").is_err());
        assert!(parse_amount("1.5").is_err());
        assert!(parse_amount("0x10").is_err());
        let too_big = format!("{}0", u128::MAX);
        assert!(parse_amount(&too_big).unwrap_err().contains("largest"));
    }

    #[test]
    fn amounts_travel_as_strings_in_json() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Holder {
            #[serde(with = "as_string")]
            amount: u128,
        }
        let holder = Holder { amount: u128::MAX };
        let json = serde_json::to_string(&holder).unwrap();
        assert_eq!(json, format!("{{\"amount\":\"{}\"}}", u128::MAX));
        assert_eq!(serde_json::from_str::<Holder>(&json).unwrap(), holder);
        assert!(serde_json::from_str::<Holder>("{\"amount\":5}").is_err());
    }
}
