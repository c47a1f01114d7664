//! TODO(parser helper): GV100AD.
use super::{Items, ParseError};
use crate::model::MunicipalityRecord;
pub fn parse<'a, R: std::io::BufRead + 'a>(input: R) -> Items<'a, MunicipalityRecord> {
    drop(input);
    Box::new(std::iter::once(Err(ParseError::not_format(
        "GV100AD",
        "start",
        "parser not implemented yet",
    ))))
}
