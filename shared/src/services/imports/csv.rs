//! A streaming CSV reader over any async byte stream, in bounded memory: a row longer than
//! [`MAX_ROW_BYTES`] or wider than [`MAX_FIELDS`] is reported and skipped, never buffered whole.
//! RFC 4180 quoting, `\n` or `\r\n` line ends, a leading UTF-8 BOM ignored, blank lines skipped.

use tokio::io::{AsyncRead, AsyncReadExt};

pub const MAX_ROW_BYTES: usize = 64 * 1024;
pub const MAX_FIELDS: usize = 1024;
const READ_CHUNK: usize = 64 * 1024;

/// One record as read: its fields, or why it could not be kept.
#[derive(Debug, PartialEq, Eq)]
pub struct RawRow {
    pub fields: Result<Fields, RowTooBig>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum RowTooBig {
    Bytes,
    Fields,
}

/// The fields of a record as bytes (UTF-8 is checked per field by the caller).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fields {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Fields {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.bytes.get(start..end)
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

pub struct CsvStream<R> {
    src: R,
    parser: csv_core::Reader,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    out: Vec<u8>,
    out_len: usize,
    ends: Vec<usize>,
    ends_len: usize,
    too_big: Option<RowTooBig>,
    /// Bytes read from the source so far.
    read_total: u64,
}

impl<R: AsyncRead + Unpin> CsvStream<R> {
    pub fn new(src: R) -> Self {
        Self {
            src,
            parser: csv_core::Reader::new(),
            buf: vec![0; READ_CHUNK].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            out: vec![0; 1024],
            out_len: 0,
            ends: vec![0; 16],
            ends_len: 0,
            too_big: None,
            read_total: 0,
        }
    }

    /// Bytes of the source consumed by the records returned so far (an import's progress).
    pub fn position(&self) -> u64 {
        self.read_total - (self.end - self.start) as u64
    }

    /// The next record, `None` at the end of the stream.
    pub async fn next(&mut self) -> std::io::Result<Option<RawRow>> {
        use csv_core::ReadRecordResult as R;
        loop {
            if self.start == self.end && !self.eof {
                let n = self.src.read(&mut self.buf).await?;
                self.read_total += n as u64;
                self.start = 0;
                self.end = n;
                self.eof = n == 0;
            }
            let (res, nin, nout, nend) = self.parser.read_record(
                &self.buf[self.start..self.end],
                &mut self.out[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            self.start += nin;
            self.out_len += nout;
            self.ends_len += nend;
            match res {
                R::InputEmpty => {}
                R::OutputFull => {
                    if self.out.len() >= MAX_ROW_BYTES {
                        // Keep parsing to find the record's end, dropping what it holds.
                        self.too_big.get_or_insert(RowTooBig::Bytes);
                        self.out_len = 0;
                    } else {
                        let len = (self.out.len() * 2).min(MAX_ROW_BYTES);
                        self.out.resize(len, 0);
                    }
                }
                R::OutputEndsFull => {
                    if self.ends.len() >= MAX_FIELDS {
                        self.too_big.get_or_insert(RowTooBig::Fields);
                        self.ends_len = 0;
                    } else {
                        let len = (self.ends.len() * 2).min(MAX_FIELDS);
                        self.ends.resize(len, 0);
                    }
                }
                R::Record => {
                    let fields = match self.too_big.take() {
                        Some(why) => Err(why),
                        None => Ok(Fields {
                            bytes: self.out[..self.out_len].to_vec(),
                            ends: self.ends[..self.ends_len].to_vec(),
                        }),
                    };
                    self.out_len = 0;
                    self.ends_len = 0;
                    return Ok(Some(RawRow { fields }));
                }
                R::End => return Ok(None),
            }
        }
    }
}

/// Escapes one cell of a CSV we write: quoted when needed, and a leading `=`, `+`, `-`, `@`,
/// tab or carriage return neutralised with a `'`, so a spreadsheet does not run it as a formula.
pub fn csv_cell(value: &str) -> String {
    let neutral = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if neutral.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(input: &[u8]) -> Vec<Result<Vec<String>, RowTooBig>> {
        let mut s = CsvStream::new(input);
        let mut out = Vec::new();
        while let Some(row) = s.next().await.unwrap() {
            out.push(row.fields.map(|f| {
                f.iter()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect()
            }));
        }
        out
    }

    #[tokio::test]
    async fn quoting_line_ends_bom_and_blank_lines() {
        let rows = read_all(b"\xEF\xBB\xBFphone,name\r\n+1,\"Ana, \"\"A\"\"\nB\"\n\n+2,Bo\n").await;
        assert_eq!(
            rows,
            vec![
                Ok(vec!["phone".into(), "name".into()]),
                Ok(vec!["+1".into(), "Ana, \"A\"\nB".into()]),
                Ok(vec!["+2".into(), "Bo".into()]),
            ]
        );
    }

    #[tokio::test]
    async fn position_counts_the_bytes_of_the_records_returned() {
        let input = b"phone,name\n+1,\"A\nB\"\n+2,C\n";
        let mut s = CsvStream::new(&input[..]);
        let mut at = Vec::new();
        while s.next().await.unwrap().is_some() {
            at.push(s.position());
        }
        assert_eq!(at, vec![11, 20, 25]);
        assert_eq!(s.position(), input.len() as u64);
    }

    #[tokio::test]
    async fn huge_rows_are_skipped_not_buffered() {
        let mut input = b"a,b\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 3 * MAX_ROW_BYTES));
        input.extend(b",y\nc,d\n");
        let rows = read_all(&input).await;
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1], Err(RowTooBig::Bytes));
        assert_eq!(rows[2], Ok(vec!["c".into(), "d".into()]));
        let wide = format!("{}\nok\n", ",".repeat(MAX_FIELDS + 5));
        let rows = read_all(wide.as_bytes()).await;
        assert_eq!(rows[0], Err(RowTooBig::Fields));
        assert_eq!(rows[1], Ok(vec!["ok".into()]));
    }

    #[tokio::test]
    async fn an_unclosed_quote_ends_the_file_in_one_field() {
        let rows = read_all(b"a,b\n\"open,x\nc,d\n").await;
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1], Ok(vec!["open,x\nc,d\n".into()]));
    }

    #[test]
    fn cells_we_write_are_safe() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_cell("a,\"b\""), "\"a,\"\"b\"\"\"");
        assert_eq!(csv_cell("-1,2"), "\"'-1,2\"");
    }
}
