//! One way to read JSON in the browser. Server functions' answers arrive
//! as bytes and are read with `serde_json::from_slice`; leptos' own resource
//! codec reads the values the server wrote into the page with `from_str`.
//! serde_json's reader is generic over its input, so the two compile every
//! decoded type twice (the largest functions in the wasm). Resources here
//! use [`Json`], which reads their strings as bytes, and so does every
//! other decoder in the app ([`decode`]): each type is compiled once.

use leptos::prelude::*;
use leptos::server::codee::{Decoder, Encoder};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// JSON for resources, read through the byte reader server functions use.
pub struct Json;

impl<T: Serialize> Encoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(val: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(val)
    }
}

impl<T: DeserializeOwned> Decoder<T> for Json {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(val: &str) -> Result<T, serde_json::Error> {
        decode(val)
    }
}

/// Reads JSON text (an event's data, a stored value) as server functions
/// read their answers.
pub fn decode<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    serde_json::from_slice(text.as_bytes())
}

/// A resource read with [`Json`].
pub type JsonResource<T> = Resource<T, Json>;

/// A resource whose value the server sends in the page, as
/// `Resource::new` makes, read with [`Json`].
#[track_caller]
pub fn resource<S, T, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> JsonResource<T>
where
    S: PartialEq + Clone + Send + Sync + 'static,
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_read_back_what_they_wrote() {
        let v: Result<Vec<(u8, String)>, String> = Ok(vec![(1, "é \"x\"".into())]);
        let text = <Json as Encoder<_>>::encode(&v).expect("encode");
        let back: Result<Vec<(u8, String)>, String> =
            <Json as Decoder<_>>::decode(&text).expect("decode");
        assert_eq!(back, v);
        assert!(decode::<u8>("not json").is_err());
    }
}
