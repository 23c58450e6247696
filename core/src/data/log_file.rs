//! One batch file of a log (`<writer>-<seq>.jsonl.gz`): a gzip member of JSON Lines whose
//! header says what is inside.
//!
//! The writer ([`GzipLines`]) compresses lines as they come, so a server spreads the work
//! over the records instead of paying it in one burst when the batch is written; the
//! header, written last, carries the batch's [`BatchSummary`] in the gzip comment field
//! (`vigil-log-batch records=N earliest=<RFC 3339> latest=<RFC 3339>`). Any gzip reader
//! reads the file; a reader of the log reads the first bytes ([`HEADER_PROBE_BYTES`]) to
//! know the batch's time range without decompressing it ([`read_summary`]). Files of older
//! servers have no comment: their range is unknown and they are read whole.

use std::io::{BufRead, BufReader, Read, Write};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use flate2::write::DeflateEncoder;
use flate2::{Compression, Crc};

/// Bytes of a batch file that always hold its header (the comment is under 120 bytes).
pub const HEADER_PROBE_BYTES: usize = 512;

const COMMENT_TAG: &str = "vigil-log-batch";
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const FLAG_EXTRA: u8 = 0x04;
const FLAG_NAME: u8 = 0x08;
const FLAG_COMMENT: u8 = 0x10;

/// How many records a batch holds and the time range they cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchSummary {
    pub records: usize,
    /// The earliest record's timestamp.
    pub earliest: DateTime<Utc>,
    /// The latest record's timestamp.
    pub latest: DateTime<Utc>,
}

impl BatchSummary {
    /// `records` records at `t`.
    pub fn new(records: usize, t: DateTime<Utc>) -> BatchSummary {
        BatchSummary {
            records,
            earliest: t,
            latest: t,
        }
    }

    /// Adds `records` records at `t`.
    pub fn add(&mut self, records: usize, t: DateTime<Utc>) {
        self.earliest = self.earliest.min(t);
        self.latest = self.latest.max(t);
        self.records += records;
    }

    fn comment(&self) -> String {
        format!(
            "{COMMENT_TAG} records={} earliest={} latest={}",
            self.records,
            self.earliest.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            self.latest.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        )
    }

    fn parse_comment(text: &str) -> Option<BatchSummary> {
        let mut words = text.split(' ');
        if words.next()? != COMMENT_TAG {
            return None;
        }
        let mut value = |name: &str| words.next()?.strip_prefix(name)?.strip_prefix('=');
        let records = value("records")?.parse().ok()?;
        let time = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        };
        let earliest = time(value("earliest")?)?;
        let latest = time(value("latest")?)?;
        Some(BatchSummary {
            records,
            earliest,
            latest,
        })
    }
}

/// JSON Lines compressed as they are written; [`GzipLines::finish`] makes the file.
pub struct GzipLines {
    deflate: DeflateEncoder<Vec<u8>>,
    crc: Crc,
}

impl Default for GzipLines {
    fn default() -> Self {
        GzipLines::new()
    }
}

impl GzipLines {
    pub fn new() -> GzipLines {
        GzipLines {
            deflate: DeflateEncoder::new(Vec::new(), Compression::fast()),
            crc: Crc::new(),
        }
    }

    /// Compresses `lines` (whole lines, each ending in `\n`). Write many lines at once:
    /// one call per line costs several times more.
    pub fn write(&mut self, lines: &[u8]) {
        self.crc.update(lines);
        // Compressing into memory cannot fail.
        let _ = self.deflate.write_all(lines);
    }

    /// Compressed bytes so far (the open batch's memory).
    pub fn compressed_len(&self) -> usize {
        self.deflate.get_ref().len()
    }

    /// The gzip file: header with `summary` as its comment, the compressed lines, trailer.
    pub fn finish(self, summary: &BatchSummary) -> Bytes {
        let GzipLines { deflate, crc } = self;
        let body = deflate.finish().unwrap_or_default();
        let comment = summary.comment();
        let mut out = Vec::with_capacity(body.len() + comment.len() + 20);
        out.extend_from_slice(&GZIP_MAGIC);
        // Deflate, a comment, no mtime (the comment has the times), fastest, OS unknown.
        out.extend_from_slice(&[8, FLAG_COMMENT, 0, 0, 0, 0, 4, 255]);
        out.extend_from_slice(comment.as_bytes());
        out.push(0);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&crc.amount().to_le_bytes());
        Bytes::from(out)
    }
}

/// The summary in a batch file's header (its first bytes are enough); `None` for files
/// without one (older servers) or that are not gzip.
pub fn read_summary(head: &[u8]) -> Option<BatchSummary> {
    if head.len() < 10 || head[..2] != GZIP_MAGIC || head[2] != 8 {
        return None;
    }
    let flags = head[3];
    let mut at = 10;
    if flags & FLAG_EXTRA != 0 {
        let len = usize::from(u16::from_le_bytes([*head.get(at)?, *head.get(at + 1)?]));
        at += 2 + len;
    }
    if flags & FLAG_NAME != 0 {
        at += head.get(at..)?.iter().position(|b| *b == 0)? + 1;
    }
    if flags & FLAG_COMMENT == 0 {
        return None;
    }
    let rest = head.get(at..)?;
    let end = rest.iter().position(|b| *b == 0)?;
    BatchSummary::parse_comment(std::str::from_utf8(&rest[..end]).ok()?)
}

/// The lines of a batch file, decompressed as they are read.
pub fn lines(bytes: &[u8]) -> impl Iterator<Item = std::io::Result<String>> + '_ {
    BufReader::with_capacity(64 * 1024, flate2::read::MultiGzDecoder::new(bytes)).lines()
}

/// Decompresses a whole batch file.
pub fn decompress(bytes: &[u8]) -> std::io::Result<String> {
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(bytes).read_to_string(&mut text)?;
    Ok(text)
}

/// Skips `n` lines of `reader` without decoding them.
pub fn skip_lines(reader: &mut impl BufRead, n: usize) -> std::io::Result<usize> {
    let mut skipped = 0;
    while skipped < n {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            break;
        }
        let mut used = buffer.len();
        for (i, b) in buffer.iter().enumerate() {
            if *b == b'\n' {
                skipped += 1;
                if skipped == n {
                    used = i + 1;
                    break;
                }
            }
        }
        reader.consume(used);
    }
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 17, 0, s)
            .single()
            .expect("time")
    }

    #[test]
    fn a_batch_file_is_plain_gzip_with_its_summary_in_the_header() {
        let mut file = GzipLines::new();
        file.write(b"{\"a\":1}\n{\"a\":2}\n");
        file.write(b"{\"a\":3}\n");
        let mut summary = BatchSummary::new(2, t(9));
        summary.add(1, t(3));
        let bytes = file.finish(&summary);
        assert_eq!(
            decompress(&bytes).expect("gzip"),
            "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n"
        );
        let read = read_summary(&bytes[..HEADER_PROBE_BYTES.min(bytes.len())]).expect("header");
        assert_eq!(
            read,
            BatchSummary {
                records: 3,
                earliest: t(3),
                latest: t(9)
            }
        );
        let lines: Vec<String> = lines(&bytes).map(|l| l.expect("line")).collect();
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn files_without_a_summary_are_read_but_unsummarised() {
        let mut plain = flate2::write::GzEncoder::new(Vec::new(), Compression::fast());
        plain.write_all(b"x\ny\n").expect("write");
        let bytes = plain.finish().expect("gzip");
        assert_eq!(read_summary(&bytes), None);
        assert_eq!(read_summary(b"not gzip at all"), None);
        let mut reader = BufReader::new(flate2::read::MultiGzDecoder::new(&bytes[..]));
        assert_eq!(skip_lines(&mut reader, 1).expect("skip"), 1);
        let mut rest = String::new();
        reader.read_to_string(&mut rest).expect("read");
        assert_eq!(rest, "y\n");
    }
}
