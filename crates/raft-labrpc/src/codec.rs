//! The wire format: postcard, strict.
//!
//! labrpc encodes arguments at the caller and decodes them at the server into a fresh value
//! (and the reverse for replies), so the two sides never share memory. This module does the
//! same with postcard, and rejects bytes left over after a value: a message that decodes only
//! in part is the wrong type, reported as an error and never a panic.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes `value`, or says why it could not be encoded.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    postcard::to_allocvec(value).map_err(|e| e.to_string())
}

/// Decodes exactly one `T` from all of `bytes`.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let (value, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|e| e.to_string())?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(format!("{} trailing byte(s) after the value", rest.len()))
    }
}
