//! Typed values read straight from a parsed document ([`canon::json::Value`]), exactly as
//! `serde_json` reads the document's canonical bytes, without writing and parsing them again
//! (a verifier has the parsed value in hand: it canonicalized it to check the signature).
//!
//! Parity with `serde_json::from_slice(&value.to_canonical())` is the rule, property-tested
//! below: a number is what serde_json makes of its canonical (ES6) text (digits alone are an
//! integer, `u64`, or `i64` when negative, a float out of their range or otherwise); strings,
//! arrays and objects (members in canonical order) are handed over as they are, strings by move.
//! Map keys are read as strings only (serde_json would also read a number from a key's text; no
//! artifact has a map keyed by anything but strings). Only the error messages differ: they carry no position (a position in the canonical bytes
//! meant nothing to the reader of the file anyway).

use canon::json::Value;
use serde::de::value::{Error, MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Unexpected, Visitor};

/// The typed value of a parsed document.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    T::deserialize(De(value))
}

struct De(Value);

impl IntoDeserializer<'_, Error> for De {
    type Deserializer = De;
    fn into_deserializer(self) -> De {
        self
    }
}

/// What serde_json makes of the canonical text of `n`.
fn number<'de, V: Visitor<'de>>(n: f64, visitor: V) -> Result<V::Value, Error> {
    // Below 2^53 an integral double's ES6 text is its exact digits: no text needed (-0 is "0").
    if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        return if n >= 0.0 {
            visitor.visit_u64(n as u64)
        } else {
            visitor.visit_i64(n as i64)
        };
    }
    let text = canon::number::to_es6(n);
    if !text.contains(['.', 'e', 'E']) {
        if text.starts_with('-') {
            if let Ok(i) = text.parse::<i64>() {
                return visitor.visit_i64(i);
            }
        } else if let Ok(u) = text.parse::<u64>() {
            return visitor.visit_u64(u);
        }
    }
    visitor.visit_f64(text.parse().unwrap_or(n))
}

fn unexpected(v: &Value) -> Unexpected<'_> {
    match v {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => Unexpected::Float(*n),
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

impl<'de> de::Deserializer<'de> for De {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => number(n, visitor),
            Value::String(s) => visitor.visit_string(s),
            Value::Array(items) => {
                let mut seq = SeqDeserializer::new(items.into_iter().map(De));
                let out = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            Value::Object(members) => {
                let mut map =
                    MapDeserializer::new(members.into_vec().into_iter().map(|(k, v)| (k, De(v))));
                let out = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(out)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(s) => visitor.visit_enum(s.into_deserializer()),
            Value::Object(members) if members.len() == 1 => {
                let mut members = members.into_vec();
                let (variant, content) = members.remove(0);
                visitor.visit_enum(Variant(variant, De(content)))
            }
            other => Err(de::Error::invalid_type(
                unexpected(&other),
                &"a string or an object of one member",
            )),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// An enum written as `{"Variant": content}`.
struct Variant(String, De);

impl<'de> de::EnumAccess<'de> for Variant {
    type Error = Error;
    type Variant = De;
    fn variant_seed<S: de::DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, De), Error> {
        let name: serde::de::value::StringDeserializer<Error> = self.0.into_deserializer();
        Ok((seed.deserialize(name)?, self.1))
    }
}

impl<'de> de::VariantAccess<'de> for De {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        match self.0 {
            Value::Null => Ok(()),
            other => Err(de::Error::invalid_type(unexpected(&other), &"unit variant")),
        }
    }
    fn newtype_variant_seed<S: de::DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Error> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(self, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_any(self, visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| Value::Number(i as f64)),
            any::<u64>().prop_map(|u| Value::Number(u as f64)),
            (-(1i64 << 54)..(1i64 << 54)).prop_map(|i| Value::Number(i as f64)),
            (-1e25f64..1e25).prop_map(Value::Number),
            prop::num::f64::NORMAL.prop_map(Value::Number),
            Just(Value::Number(-0.0)),
            "\\PC{0,12}".prop_map(Value::String),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-z]{0,4}", inner), 0..6).prop_map(|mut m| {
                    m.sort_by(|a, b| a.0.cmp(&b.0));
                    m.dedup_by(|a, b| a.0 == b.0);
                    Value::object(m).expect("unique names")
                }),
            ]
        })
    }

    proptest! {
        /// Into serde_json's own value type, which keeps u64, i64 and f64 apart: the same as
        /// serde_json reading the canonical bytes.
        #[test]
        fn reads_what_serde_json_reads_from_the_canonical_bytes(v in value()) {
            let want: serde_json::Value = serde_json::from_slice(&v.to_canonical()).unwrap();
            let got: serde_json::Value = from_value(v).unwrap();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn artifacts_read_alike_and_refuse_alike() {
        let doc = br#"{"schema_version":3,"customer":{"id":"acme","name":"ACME"},"x":[1,-2,3.5]}"#;
        let v = canon::parse(doc).unwrap();
        #[derive(serde::Deserialize, Debug, PartialEq)]
        #[serde(deny_unknown_fields)]
        struct Narrow {
            schema_version: u8,
            customer: std::collections::BTreeMap<String, String>,
        }
        let a = serde_json::from_slice::<Narrow>(&v.to_canonical()).unwrap_err();
        let b = from_value::<Narrow>(v.clone()).unwrap_err();
        assert!(a.to_string().starts_with(&b.to_string()), "{a} / {b}");
        #[derive(serde::Deserialize, Debug, PartialEq)]
        enum E {
            Unit,
            New(u32),
            Pair(u8, i8),
            Named { n: u64 },
        }
        for text in [
            r#""Unit""#,
            r#"{"New":7}"#,
            r#"{"Pair":[1,-1]}"#,
            r#"{"Named":{"n":9}}"#,
        ] {
            let v = canon::parse(text.as_bytes()).unwrap();
            let want: E = serde_json::from_slice(&v.to_canonical()).unwrap();
            assert_eq!(from_value::<E>(v).unwrap(), want);
        }
        for text in [
            r#""Nope""#,
            r#"{"New":-7}"#,
            r#"{"Unit":1,"New":2}"#,
            "3",
            r#"{"Pair":[1]}"#,
        ] {
            let v = canon::parse(text.as_bytes()).unwrap();
            assert!(
                serde_json::from_slice::<E>(&v.to_canonical()).is_err(),
                "{text}"
            );
            assert!(from_value::<E>(v).is_err(), "{text}");
        }
    }
}
