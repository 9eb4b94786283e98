use std::fmt;

/// A WebAssembly feature outside Cairn's deterministic subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Feature {
    /// `f32`/`f64` types and instructions: NaN bit patterns differ between
    /// machines.
    Floats,
    /// 128-bit SIMD (`v128`), including relaxed SIMD.
    Simd,
    /// Shared memories and atomics.
    Threads,
    /// Exception handling (tags, `throw`, `try_table`).
    Exceptions,
    /// `return_call` and friends.
    TailCalls,
    /// Typed function references and garbage-collected types.
    Gc,
    /// Reference-typed values: `ref.null`, `ref.func`, `ref.is_null`, typed
    /// `select`, `externref`, table initialisers.
    ReferenceTypes,
    /// Instructions that read or change tables (`table.get`/`set`/`grow`/
    /// `fill`/`copy`/`init`/`size`, `elem.drop`) and passive or declared
    /// element segments they would use.
    TableInstructions,
    /// 64-bit memories and tables.
    Memory64,
    /// More than one memory.
    MultiMemory,
    /// More than one table.
    MultiTable,
    /// A start function: code that runs at instantiation, outside any call.
    StartFunction,
    /// Non-constant initialiser expressions (`extended-const`, `global.get`).
    ExtendedConst,
    /// The custom-page-sizes proposal.
    CustomPageSizes,
    /// 128-bit arithmetic (wide-arithmetic proposal).
    WideArithmetic,
    /// Stack switching (continuations).
    StackSwitching,
    /// A component instead of a core module.
    ComponentModel,
    /// Any other proposal not listed here.
    Other(&'static str),
}

impl Feature {
    /// Every feature but [`Feature::Other`], in the order of their codes.
    pub const ALL: [Feature; 17] = [
        Feature::Floats,
        Feature::Simd,
        Feature::Threads,
        Feature::Exceptions,
        Feature::TailCalls,
        Feature::Gc,
        Feature::ReferenceTypes,
        Feature::TableInstructions,
        Feature::Memory64,
        Feature::MultiMemory,
        Feature::MultiTable,
        Feature::StartFunction,
        Feature::ExtendedConst,
        Feature::CustomPageSizes,
        Feature::WideArithmetic,
        Feature::StackSwitching,
        Feature::ComponentModel,
    ];

    /// The low byte of the feature's [rejection code](Rejection::code):
    /// its place in [`Feature::ALL`] from 1, or 255 for any other.
    fn number(self) -> u8 {
        Feature::ALL
            .iter()
            .position(|feature| *feature == self)
            .and_then(|index| u8::try_from(index + 1).ok())
            .unwrap_or(u8::MAX)
    }

    /// The feature's name as it appears in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Feature::Floats => "floating point",
            Feature::Simd => "SIMD",
            Feature::Threads => "threads and atomics",
            Feature::Exceptions => "exception handling",
            Feature::TailCalls => "tail calls",
            Feature::Gc => "GC and typed function references",
            Feature::ReferenceTypes => "reference types",
            Feature::TableInstructions => "table instructions",
            Feature::Memory64 => "memory64",
            Feature::MultiMemory => "multiple memories",
            Feature::MultiTable => "multiple tables",
            Feature::StartFunction => "start function",
            Feature::ExtendedConst => "extended constant expressions",
            Feature::CustomPageSizes => "custom page sizes",
            Feature::WideArithmetic => "wide arithmetic",
            Feature::StackSwitching => "stack switching",
            Feature::ComponentModel => "component model",
            Feature::Other(name) => name,
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a module was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// Uses a feature outside the accepted subset; `what` names the
    /// instruction, type or section that uses it.
    Feature { feature: Feature, what: String },
    /// Goes over a static limit, named by its constant in
    /// [`crate::limits`].
    Limit {
        limit: &'static str,
        max: u64,
        found: u64,
    },
    /// Imports something the host does not provide.
    Import {
        module: String,
        name: String,
        why: String,
    },
    /// Breaks a rule for contracts (exports, memory) that is not about a
    /// wasm feature.
    Contract(String),
    /// Not a well-formed, valid module.
    Invalid(String),
}

/// Every limit a rejection can name, in the order of their codes
/// (`0x0201` is the first). Append only: the codes are consensus data.
pub const LIMITS: [&str; 19] = [
    "MAX_CODE_BYTES",
    "MAX_TYPES",
    "MAX_FUNCTIONS",
    "MAX_FUNCTION_PARAMS",
    "MAX_FUNCTION_RESULTS",
    "MAX_LOCALS_PER_FUNCTION",
    "MAX_TOTAL_LOCALS",
    "MAX_NESTING_DEPTH",
    "MAX_BR_TABLE_TARGETS",
    "MAX_EXPORTS",
    "MAX_EXPORT_NAME_BYTES",
    "MAX_GLOBALS",
    "MAX_DATA_SEGMENTS",
    "MAX_ELEMENT_SEGMENTS",
    "MAX_ELEMENT_ENTRIES",
    "MAX_OPERAND_STACK_HEIGHT",
    "MAX_COMPILE_WORK",
    "MAX_TABLE_ELEMENTS",
    "MAX_MEMORY_PAGES",
];

/// The [rejection code](Rejection::code) of a rejection naming a limit not
/// in [`LIMITS`] (a bug: a test keeps the list complete).
pub const UNLISTED_LIMIT_CODE: u16 = 0x02ff;

/// Every rejection code and a short name for it, in order: what
/// docs/ABI.md lists and clients map receipts' codes with.
pub fn rejection_codes() -> Vec<(u16, String)> {
    let features = Feature::ALL.iter().map(|feature| {
        (
            0x0100 | u16::from(feature.number()),
            feature.name().to_owned(),
        )
    });
    let other = std::iter::once((0x01ff, "another proposal".to_owned()));
    let limits = LIMITS
        .iter()
        .zip(1u16..)
        .map(|(limit, number)| (0x0200 | number, (*limit).to_owned()));
    let kinds = [
        (0x0300, "import"),
        (0x0400, "contract rule"),
        (0x0500, "invalid module"),
    ]
    .map(|(code, name)| (code, name.to_owned()));
    features.chain(other).chain(limits).chain(kinds).collect()
}

/// A rejected module: the reason and where in the bytes it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Rejection {
    pub reason: Reason,
    /// Byte offset in the module, when the problem has one.
    pub offset: Option<u64>,
    /// Index of the function whose body has the problem.
    pub function: Option<u32>,
}

impl Rejection {
    pub(crate) fn new(reason: Reason) -> Self {
        Rejection {
            reason,
            offset: None,
            function: None,
        }
    }

    pub(crate) fn at(mut self, offset: impl TryInto<u64>) -> Self {
        self.offset = offset.try_into().ok();
        self
    }

    pub(crate) fn in_function(mut self, function: u32) -> Self {
        self.function = Some(function);
        self
    }

    pub(crate) fn feature(feature: Feature, what: impl fmt::Display) -> Self {
        Rejection::new(Reason::Feature {
            feature,
            what: what.to_string(),
        })
    }

    pub(crate) fn limit(
        limit: &'static str,
        max: impl TryInto<u64>,
        found: impl TryInto<u64>,
    ) -> Self {
        Rejection::new(Reason::Limit {
            limit,
            max: max.try_into().unwrap_or(u64::MAX),
            found: found.try_into().unwrap_or(u64::MAX),
        })
    }

    pub(crate) fn contract(message: impl fmt::Display) -> Self {
        Rejection::new(Reason::Contract(message.to_string()))
    }

    /// A fixed code for why the module was rejected, the same on every node
    /// and with every version of the parser (unlike the text): `0x01nn` a
    /// rejected [`Feature`], `0x02nn` a limit (its place in [`LIMITS`]),
    /// `0x0300` an import the host does not provide, `0x0400` a contract
    /// rule (exports, memory), `0x0500` a module that is not valid wasm.
    /// This, not the text, is what a rejected deploy's receipt carries
    /// ([`rejection_codes`] names them all).
    pub fn code(&self) -> u16 {
        match &self.reason {
            Reason::Feature { feature, .. } => 0x0100 | u16::from(feature.number()),
            Reason::Limit { limit, .. } => LIMITS
                .iter()
                .zip(1u16..)
                .find(|(name, _)| *name == limit)
                .map_or(UNLISTED_LIMIT_CODE, |(_, number)| 0x0200 | number),
            Reason::Import { .. } => 0x0300,
            Reason::Contract(_) => 0x0400,
            Reason::Invalid(_) => 0x0500,
        }
    }

    /// The rejected feature, if the rejection is about one.
    pub fn rejected_feature(&self) -> Option<Feature> {
        match &self.reason {
            Reason::Feature { feature, .. } => Some(*feature),
            _ => None,
        }
    }
}

impl From<wasmparser::BinaryReaderError> for Rejection {
    fn from(error: wasmparser::BinaryReaderError) -> Self {
        Rejection::new(Reason::Invalid(error.message().to_owned())).at(error.offset())
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            Reason::Feature { feature, what } => {
                write!(f, "uses {feature}, which Cairn does not accept: {what}")?;
            }
            Reason::Limit { limit, max, found } => {
                write!(f, "over the limit {limit} = {max}: found {found}")?;
            }
            Reason::Import { module, name, why } => {
                write!(f, "import `{module}.{name}`: {why}")?;
            }
            Reason::Contract(message) => f.write_str(message)?,
            Reason::Invalid(message) => write!(f, "invalid module: {message}")?,
        }
        if let Some(function) = self.function {
            write!(f, " (in function {function}")?;
            match self.offset {
                Some(offset) => write!(f, ", at offset {offset:#x})")?,
                None => f.write_str(")")?,
            }
        } else if let Some(offset) = self.offset {
            write!(f, " (at offset {offset:#x})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quoted `MAX_...` names in a source file.
    fn limit_names(source: &str) -> Vec<&str> {
        source
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|text| {
                text.starts_with("MAX_")
                    && text.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
            })
            .collect()
    }

    #[test]
    fn every_limit_validation_names_has_a_code() {
        let named: Vec<&str> = [include_str!("mod.rs"), include_str!("compile_work.rs")]
            .into_iter()
            .flat_map(limit_names)
            .collect();
        assert!(named.len() > 10, "found only {named:?}");
        for name in named {
            let rejection = Rejection::limit(name, 1, 2);
            assert_ne!(rejection.code(), UNLISTED_LIMIT_CODE, "{name} has no code");
        }
    }

    #[test]
    fn codes_are_pinned_and_distinct() {
        let codes = rejection_codes();
        let mut numbers: Vec<u16> = codes.iter().map(|(code, _)| *code).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), codes.len(), "{codes:?}");
        let code = |reason| Rejection::new(reason).code();
        assert_eq!(
            Rejection::feature(Feature::Floats, "f32.add").code(),
            0x0101
        );
        assert_eq!(
            Rejection::feature(Feature::ComponentModel, "a component").code(),
            0x0111
        );
        assert_eq!(
            Rejection::feature(Feature::Other("relaxed-simd"), "x").code(),
            0x01ff
        );
        assert_eq!(Rejection::limit("MAX_CODE_BYTES", 1, 2).code(), 0x0201);
        assert_eq!(Rejection::limit("MAX_COMPILE_WORK", 1, 2).code(), 0x0211);
        assert_eq!(Rejection::limit("MAX_MEMORY_PAGES", 1, 2).code(), 0x0213);
        let import = Reason::Import {
            module: "env".into(),
            name: "f".into(),
            why: "any text".into(),
        };
        assert_eq!(code(import), 0x0300);
        assert_eq!(code(Reason::Contract("any text".into())), 0x0400);
        assert_eq!(code(Reason::Invalid("any text".into())), 0x0500);
    }

    #[test]
    fn the_code_does_not_depend_on_the_text_or_the_offset() {
        let one = Rejection::feature(Feature::Simd, "v128.const").at(10u64);
        let other = Rejection::feature(Feature::Simd, "i8x16.add").in_function(3);
        assert_eq!(one.code(), other.code());
        assert_ne!(one.to_string(), other.to_string());
    }
}
