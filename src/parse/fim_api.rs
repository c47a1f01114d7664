//! TODO(parser helper): FIM API.
use super::{Items, ParseError};
use crate::model::ServiceRecord;
pub fn parse<'a, R: std::io::Read + 'a>(input: R) -> Items<'a, ServiceRecord> {
    drop(input);
    Box::new(std::iter::once(Err(ParseError::not_format(
        "FIM API",
        "start",
        "parser not implemented yet",
    ))))
}
