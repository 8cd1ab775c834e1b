//! Mutations: byte-level (flips, inserts, deletions, duplications, splices with another seed,
//! tokens that break parsers) and, for JSON seeds, structural (a node replaced by another of any
//! type, a key removed or added, an array grown or emptied).

use rand::seq::IndexedRandom;
use rand::Rng;
use serde_json::Value;

/// Tokens that tend to matter to parsers.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b",",
    b":",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"null",
    b"true",
    b"-1",
    b"0",
    b"1e309",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"\r\n",
    b"\n",
    b"\"\"",
    b"\xef\xbb\xbf",
    b"\xff\xfe",
    b"\xc3\x28",
    b"+",
    b"+44",
    b"00",
    b"\t",
    b";",
    b"=",
    b"\"\"\"",
    b"\x00",
];

/// One new input from the seeds.
pub fn mutate(rng: &mut impl Rng, seeds: &[Vec<u8>], json: bool) -> Vec<u8> {
    let base = seeds.choose(rng).cloned().unwrap_or_default();
    if json && rng.random_bool(0.5) {
        if let Ok(mut v) = serde_json::from_slice::<Value>(&base) {
            for _ in 0..rng.random_range(1..=3) {
                mutate_json(rng, &mut v, 0);
            }
            return serde_json::to_vec(&v).unwrap_or(base);
        }
    }
    let mut bytes = base;
    for _ in 0..rng.random_range(1..=4) {
        mutate_bytes(rng, &mut bytes, seeds);
    }
    bytes
}

fn mutate_bytes(rng: &mut impl Rng, b: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let at = |rng: &mut dyn rand::RngCore, len: usize| match len {
        0 => 0,
        n => rng.random_range(0..=n),
    };
    match rng.random_range(0..8) {
        0 if !b.is_empty() => {
            let i = rng.random_range(0..b.len());
            b[i] ^= 1 << rng.random_range(0..8);
        }
        1 if !b.is_empty() => {
            let i = rng.random_range(0..b.len());
            b[i] = rng.random();
        }
        2 => {
            let i = at(rng, b.len());
            let n = rng.random_range(1..=16);
            let junk: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            b.splice(i..i, junk);
        }
        3 if !b.is_empty() => {
            let i = rng.random_range(0..b.len());
            let j = (i + rng.random_range(1..=64)).min(b.len());
            b.drain(i..j);
        }
        4 if !b.is_empty() => {
            let i = rng.random_range(0..b.len());
            let j = (i + rng.random_range(1..=256)).min(b.len());
            let chunk = b[i..j].to_vec();
            let k = at(rng, b.len());
            b.splice(k..k, chunk);
        }
        5 => {
            if let Some(other) = seeds.choose(rng) {
                let i = at(rng, b.len());
                let j = at(rng, other.len());
                b.truncate(i);
                b.extend_from_slice(&other[j..]);
            }
        }
        6 => {
            let token = TOKENS.choose(rng).copied().unwrap_or(b"");
            let i = at(rng, b.len());
            b.splice(i..i, token.iter().copied());
        }
        _ => {
            let i = at(rng, b.len());
            b.truncate(i);
        }
    }
}

fn random_value(rng: &mut impl Rng, depth: u32) -> Value {
    match rng.random_range(0..9) {
        0 => Value::Null,
        1 => Value::Bool(rng.random()),
        2 => Value::from(rng.random::<i64>()),
        3 => Value::from(rng.random::<f64>() * 1e12),
        4 => Value::from(
            [
                "",
                " ",
                "+447911123456",
                "😀",
                "a\u{0}b",
                "acc_x",
                "<script>",
                "0",
                "9999999999999999",
            ]
            .choose(rng)
            .copied()
            .unwrap_or(""),
        ),
        5 => Value::from("x".repeat(rng.random_range(0..5000))),
        6 if depth < 3 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        7 if depth < 3 => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.random_range(0..4) {
                m.insert(
                    ["id", "type", "text", "phone", "name", "value"]
                        .choose(rng)
                        .copied()
                        .unwrap_or("k")
                        .to_owned(),
                    random_value(rng, depth + 1),
                );
            }
            Value::Object(m)
        }
        _ => Value::from(rng.random_range(-2i64..=2)),
    }
}

/// Changes one node somewhere under `v`.
fn mutate_json(rng: &mut impl Rng, v: &mut Value, depth: u32) {
    let descend = rng.random_bool(0.75);
    match v {
        Value::Object(m) if !m.is_empty() => {
            let keys: Vec<String> = m.keys().cloned().collect();
            let key = keys.choose(rng).cloned().unwrap_or_default();
            match (descend, rng.random_range(0..6)) {
                (true, _) => {
                    if let Some(child) = m.get_mut(&key) {
                        mutate_json(rng, child, depth + 1);
                    }
                }
                (false, 0) => {
                    m.remove(&key);
                }
                (false, 1) => {
                    m.insert(format!("{key}_extra"), random_value(rng, depth));
                }
                _ => {
                    m.insert(key, random_value(rng, depth));
                }
            }
        }
        Value::Array(a) if !a.is_empty() => match (descend, rng.random_range(0..4)) {
            (true, _) => {
                let i = rng.random_range(0..a.len());
                mutate_json(rng, &mut a[i], depth + 1);
            }
            (false, 0) => a.clear(),
            (false, 1) => {
                let item = a[0].clone();
                for _ in 0..rng.random_range(1..50) {
                    a.push(item.clone());
                }
            }
            _ => {
                let i = rng.random_range(0..a.len());
                a[i] = random_value(rng, depth);
            }
        },
        other => *other = random_value(rng, depth),
    }
}
