//! Property tests: canonicalization is idempotent, independent of member order and white
//! space, agrees with serde_json on the value, and never panics on arbitrary bytes.

use proptest::prelude::*;

fn arb_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
        any::<i64>().prop_map(|i| serde_json::json!(i)),
        "\\PC{0,12}".prop_map(serde_json::Value::String),
        any::<String>().prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("\\PC{0,6}", inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Serializes with members in reverse order and extra white space, to check that the
/// canonical form does not depend on either.
fn scrambled(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => {
            let parts: Vec<String> = m
                .iter()
                .rev()
                .map(|(k, v)| {
                    format!(
                        " {} :\n{} ",
                        serde_json::to_string(k).unwrap(),
                        scrambled(v)
                    )
                })
                .collect();
            format!("{{\t{}\r}}", parts.join(","))
        }
        serde_json::Value::Array(a) => {
            format!(
                "[ {} ]",
                a.iter().map(scrambled).collect::<Vec<_>>().join(" , ")
            )
        }
        other => serde_json::to_string(other).unwrap(),
    }
}

proptest! {
    #[test]
    fn idempotent_and_order_independent(v in arb_json()) {
        let plain = serde_json::to_vec(&v).unwrap();
        let c1 = canon::canonicalize(&plain).unwrap();
        prop_assert_eq!(canon::canonicalize(&c1).unwrap(), c1.clone());
        let c2 = canon::canonicalize(scrambled(&v).as_bytes()).unwrap();
        prop_assert_eq!(&c2, &c1);
        // Same value as serde_json sees (numbers compare as f64).
        let back: serde_json::Value = serde_json::from_slice(&c1).unwrap();
        prop_assert!(same(&v, &back), "{:?} vs {:?}", v, back);
        // Pretty output canonicalizes back too.
        let pretty = canon::parse(&c1).unwrap().to_pretty();
        prop_assert_eq!(canon::canonicalize(&pretty).unwrap(), c1);
    }

    #[test]
    fn numbers_round_trip_exactly(f in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
        let s = canon::number::to_es6(f);
        let back: f64 = s.parse().unwrap();
        prop_assert!(back == f, "{} -> {} -> {}", f, s, back);
        prop_assert_eq!(canon::canonicalize(s.as_bytes()).unwrap(), s.into_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = canon::canonicalize(&bytes);
    }

    #[test]
    fn json_like_bytes_never_panic(s in "[\\[\\]{}\",:0-9eE.+\\-\\\\utrfalsn ]{0,64}") {
        if let Ok(c) = canon::canonicalize(s.as_bytes()) {
            prop_assert_eq!(canon::canonicalize(&c).unwrap(), c);
        }
    }
}

fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => x.as_f64() == y.as_f64(),
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}
