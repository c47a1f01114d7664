//! TODO(parser helper): XZuFi.
use super::{Items, ParseError};
use crate::model::ServiceRecord;
pub fn parse<'a, R: std::io::BufRead + 'a>(input: R) -> Items<'a, ServiceRecord> {
    drop(input);
    Box::new(std::iter::once(Err(ParseError::not_format(
        "XZuFi",
        "start",
        "parser not implemented yet",
    ))))
}
