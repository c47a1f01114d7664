//! The benchmark harness behind `cargo bench --bench ozgsync`: data generation
//! (`gen`), child-process measurement (`measure`), the cases (`cases`) and the
//! markdown report (`report`).

pub mod cases;
pub mod gen;
pub mod measure;
pub mod report;
pub mod status;

/// Why a benchmark step could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not start {what}: {source}")]
    Spawn {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed: {detail}")]
    Child { what: String, detail: String },
    #[error("{0}")]
    Usage(String),
}

impl BenchError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        BenchError::Io {
            context: context.into(),
            source,
        }
    }
}
