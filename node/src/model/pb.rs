//! [`Pb`]: a protobuf message inside a serde-encoded record (log entries, stored records).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A protobuf message carried inside a serde-encoded log entry as its protobuf bytes.
///
/// Why: the API types are prost messages; encoding them as protobuf keeps the log compact (no
/// per-field serde encoding of large payloads) and deterministic (maps are `BTreeMap`s).
#[derive(Clone, PartialEq, Default)]
pub struct Pb<T>(pub T);

impl<T: fmt::Debug> fmt::Debug for Pb<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<T: prost::Message> Serialize for Pb<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0.encode_to_vec())
    }
}

impl<'de, T: prost::Message + Default> Deserialize<'de> for Pb<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<T: prost::Message + Default> serde::de::Visitor<'_> for V<T> {
            type Value = Pb<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("protobuf bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Pb<T>, E> {
                T::decode(v).map(Pb).map_err(E::custom)
            }
        }
        d.deserialize_bytes(V(std::marker::PhantomData))
    }
}
