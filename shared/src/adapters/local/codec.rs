//! The byte form of an item's attributes in the SQLite file: compact and cheap to write
//! (an import stores millions), unlike JSON with base64 for every encrypted field.
//!
//! `0x01`, then a map: varint count, then per entry a string (varint length, UTF-8) and a
//! value: a tag byte (1 S, 2 N, 3 B, 4 Bool, 5 L, 6 M, 7 Null) and its payload. Rows written
//! as JSON by earlier versions (first byte `{`) still read.

use crate::ports::{Attrs, StoreError, Value};

const VERSION: u8 = 1;
/// Lists and maps nest at most this deep; deeper input is corrupt, not a stack overflow.
const MAX_DEPTH: usize = 32;

pub fn encode(attrs: &Attrs) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(VERSION);
    map(&mut out, attrs);
    out
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn map(out: &mut Vec<u8>, m: &Attrs) {
    varint(out, m.len() as u64);
    for (k, v) in m {
        bytes(out, k.as_bytes());
        value(out, v);
    }
}

fn value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::S(s) => {
            out.push(1);
            bytes(out, s.as_bytes());
        }
        Value::N(n) => {
            out.push(2);
            out.extend_from_slice(&n.to_le_bytes());
        }
        Value::B(b) => {
            out.push(3);
            bytes(out, b);
        }
        Value::Bool(b) => {
            out.push(4);
            out.push(u8::from(*b));
        }
        Value::L(l) => {
            out.push(5);
            varint(out, l.len() as u64);
            for v in l {
                value(out, v);
            }
        }
        Value::M(m) => {
            out.push(6);
            map(out, m);
        }
        Value::Null => out.push(7),
    }
}

pub fn decode(input: &[u8]) -> Result<Attrs, StoreError> {
    match input.first() {
        Some(b'{') => serde_json::from_slice(input).map_err(|e| corrupt(&e.to_string())),
        Some(&VERSION) => {
            let mut r = Reader { input, at: 1 };
            let attrs = r.map(0)?;
            if r.at != input.len() {
                return Err(corrupt("trailing bytes"));
            }
            Ok(attrs)
        }
        _ => Err(corrupt("unknown attribute encoding")),
    }
}

fn corrupt(why: &str) -> StoreError {
    StoreError::Corrupt(format!("attributes: {why}"))
}

struct Reader<'a> {
    input: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, StoreError> {
        let b = *self
            .input
            .get(self.at)
            .ok_or_else(|| corrupt("truncated"))?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, StoreError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err(corrupt("varint too long"))
    }

    fn take(&mut self, len: u64) -> Result<&[u8], StoreError> {
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| self.at.checked_add(l))
            .filter(|e| *e <= self.input.len())
            .ok_or_else(|| corrupt("truncated"))?;
        let out = &self.input[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn string(&mut self) -> Result<String, StoreError> {
        let len = self.varint()?;
        let b = self.take(len)?;
        String::from_utf8(b.to_vec()).map_err(|_| corrupt("string not UTF-8"))
    }

    /// A count of items that each take at least one byte cannot exceed what is left.
    fn count(&mut self) -> Result<usize, StoreError> {
        let n = self.varint()?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.input.len() - self.at)
            .ok_or_else(|| corrupt("count beyond the input"))
    }

    fn map(&mut self, depth: usize) -> Result<Attrs, StoreError> {
        let n = self.count()?;
        let mut m = Attrs::new();
        for _ in 0..n {
            let k = self.string()?;
            let v = self.value(depth)?;
            m.insert(k, v);
        }
        Ok(m)
    }

    fn value(&mut self, depth: usize) -> Result<Value, StoreError> {
        if depth > MAX_DEPTH {
            return Err(corrupt("nested too deep"));
        }
        Ok(match self.byte()? {
            1 => Value::S(self.string()?),
            2 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::N(i64::from_le_bytes(a))
            }
            3 => {
                let len = self.varint()?;
                Value::B(self.take(len)?.to_vec())
            }
            4 => Value::Bool(self.byte()? != 0),
            5 => {
                let n = self.count()?;
                let mut l = Vec::with_capacity(n);
                for _ in 0..n {
                    l.push(self.value(depth + 1)?);
                }
                Value::L(l)
            }
            6 => Value::M(self.map(depth + 1)?),
            7 => Value::Null,
            _ => return Err(corrupt("unknown value tag")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_json() {
        let attrs = Attrs::from([
            ("s".into(), Value::S("héllo".into())),
            ("n".into(), Value::N(-5)),
            ("b".into(), Value::B(vec![0, 255, 7])),
            ("l".into(), Value::L(vec![Value::Bool(true), Value::Null])),
            (
                "m".into(),
                Value::M(Attrs::from([("x".into(), Value::N(i64::MAX))])),
            ),
        ]);
        assert_eq!(decode(&encode(&attrs)).unwrap(), attrs);
        let json = serde_json::to_vec(&attrs).unwrap();
        assert_eq!(decode(&json).unwrap(), attrs);
    }

    #[test]
    fn garbage_is_corrupt_not_a_panic() {
        for bad in [
            &b""[..],
            b"\x01",
            b"\x01\x05",
            b"\x01\x01\x01a\x09",
            b"\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\x02",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        let mut deep = vec![1u8, 1, 1, b'k'];
        for _ in 0..100 {
            deep.extend([5, 1]);
        }
        deep.push(7);
        assert!(decode(&deep).is_err());
    }
}
