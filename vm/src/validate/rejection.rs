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
