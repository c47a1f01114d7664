//! TODO(parser helper): LeiKa CSV.
use super::{Items, ParseError};
use crate::model::ServiceRecord;
pub fn parse<'a, R: std::io::Read + std::io::Seek + 'a>(
    input: R,
) -> Result<Items<'a, ServiceRecord>, ParseError> {
    drop(input);
    Err(ParseError::not_format(
        "LeiKa CSV",
        "start",
        "parser not implemented yet",
    ))
}
