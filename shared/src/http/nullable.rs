use serde::{Deserialize, Deserializer};

/// For PATCH fields where `null` means "clear" and absence means "leave as is": with
/// `#[serde(default, deserialize_with = "nullable")]` on an `Option<Option<T>>`, an absent
/// field is `None`, `null` is `Some(None)` and a value is `Some(Some(v))`.
pub fn nullable<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
