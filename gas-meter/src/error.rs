use std::fmt;

/// Why a module could not be instrumented.
///
/// The VM validates modules before metering them, so in Cairn these mean a
/// bug in validation or a module that did not come through it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a valid module with the supported features.
    #[error("invalid module: {message} (at offset {offset:#x})")]
    Invalid { message: String, offset: u64 },
    /// The module uses something the meter has no cost for.
    #[error("the meter does not support {what} (at offset {offset:#x})")]
    Unsupported { what: String, offset: u64 },
    /// An export uses a name the meter needs for itself.
    #[error("export name `{name}` is reserved for the meter (at offset {offset:#x})")]
    ReservedExport { name: String, offset: u64 },
    /// A memory declares an initial size above the schedule's page limit.
    #[error("memory of {initial} pages is over the limit of {limit} pages")]
    MemoryTooLarge { initial: u64, limit: u32 },
    /// The schedule itself is unusable.
    #[error("invalid schedule: {0}")]
    Schedule(&'static str),
}

impl Error {
    pub(crate) fn unsupported(what: impl fmt::Display, offset: impl TryInto<u64>) -> Self {
        Error::Unsupported {
            what: what.to_string(),
            offset: offset.try_into().unwrap_or(u64::MAX),
        }
    }
}

impl From<wasmparser::BinaryReaderError> for Error {
    fn from(error: wasmparser::BinaryReaderError) -> Self {
        Error::Invalid {
            message: error.message().to_owned(),
            offset: error.offset(),
        }
    }
}

impl From<wasm_encoder::reencode::Error<Error>> for Error {
    fn from(error: wasm_encoder::reencode::Error<Error>) -> Self {
        use wasm_encoder::reencode::Error as Reencode;
        match error {
            Reencode::ParseError(error) => error.into(),
            Reencode::UserError(error) => error,
            other => Error::Invalid {
                message: other.to_string(),
                offset: 0,
            },
        }
    }
}
