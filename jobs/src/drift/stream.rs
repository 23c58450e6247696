//! An ad-hoc check's file, streamed: one reader thread decompresses and cuts the file
//! into chunks of whole records, worker threads parse and fold each chunk into their
//! own [`WindowProfile`] (features typed by the schema, predictions by the model), and
//! the profiles are merged at the end. Memory: a few chunks in flight plus one profile
//! per worker, whatever the file's size.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Mutex;

use vigil_core::data::dataset::DataFormat;
use vigil_core::data::schema::FeatureSchema;
use vigil_core::drift::profile::WindowProfile;
use vigil_core::train::artifact::ModelArtifact;

use super::DriftError;

/// Bytes per chunk (whole records: cut at the last record boundary before it).
const CHUNK: usize = 4 << 20;
/// Chunks waiting for a worker.
const QUEUED: usize = 4;

/// How a file's columns map to the schema: the index of each feature's column, of the
/// target's and of `request_id` (CSV: from the header; JSON Lines: by key).
#[derive(Clone, Debug)]
struct Layout {
    features: Vec<Option<usize>>,
    target: Option<usize>,
    request_id: Option<usize>,
    width: usize,
}

/// A chunk of whole records, with the line it starts at.
struct Chunk {
    bytes: Vec<u8>,
    first_line: usize,
}

/// Streams `path` (CSV or JSON Lines, optionally gzip) into a profile on `threads`
/// worker threads.
pub fn profile_file(
    path: &Path,
    schema: &FeatureSchema,
    model: Option<&ModelArtifact>,
    threads: usize,
) -> Result<WindowProfile, DriftError> {
    let name = path.display().to_string();
    let invalid = |message: String| DriftError::InvalidData {
        path: name.clone(),
        message,
    };
    let file = File::open(path).map_err(|e| invalid(e.to_string()))?;
    let mut input = open(file).map_err(|e| invalid(e.to_string()))?;
    let format = DataFormat::Auto.resolve(&name);
    let (layout, rest) = match format {
        DataFormat::Jsonl => (None, Vec::new()),
        _ => {
            let (header, rest) = read_header(&mut input).map_err(invalid)?;
            (Some(csv_layout(schema, &header, &name)?), rest)
        }
    };
    let (tx, rx) = sync_channel::<Chunk>(QUEUED);
    let rx = Mutex::new(rx);
    let csv = layout.is_some();
    let folded = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                let (rx, layout) = (&rx, layout.clone());
                scope.spawn(move || fold_chunks(rx, schema, model, layout.as_ref()))
            })
            .collect();
        let read = cut_chunks(&mut input, rest, csv, |chunk| tx.send(chunk).is_ok());
        drop(tx);
        let parts: Vec<_> = workers
            .into_iter()
            .map(|w| match w.join() {
                Ok(part) => part,
                Err(payload) => std::panic::resume_unwind(payload),
            })
            .collect();
        (read, parts)
    });
    let (read, parts) = folded;
    read.map_err(|e| invalid(e.to_string()))?;
    let mut profile: Option<Folded> = None;
    for part in parts {
        let part = part.map_err(invalid)?;
        match profile.as_mut() {
            None => profile = Some(part),
            Some(total) => total.merge(part).map_err(invalid)?,
        }
    }
    let folded = profile.ok_or_else(|| invalid("no worker ran".into()))?;
    folded.finish(schema, layout.is_some()).map_err(invalid)
}

fn open(file: File) -> std::io::Result<Box<dyn Read + Send>> {
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let magic = std::io::BufRead::fill_buf(&mut reader)?;
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::bufread::MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    })
}

/// The CSV header's cells, and the bytes read past it.
fn read_header(input: &mut dyn Read) -> Result<(Vec<String>, Vec<u8>), String> {
    let mut buffer = Vec::new();
    let mut block = vec![0u8; 1 << 16];
    loop {
        if let Some(end) = buffer.iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&buffer[..end]);
            let header = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(line.trim_end_matches('\r').as_bytes())
                .records()
                .next()
                .and_then(Result::ok)
                .map(|r| r.iter().map(|c| c.trim().to_string()).collect())
                .unwrap_or_default();
            return Ok((header, buffer[end + 1..].to_vec()));
        }
        let n = input.read(&mut block).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(if buffer.iter().all(u8::is_ascii_whitespace) {
                "the file is empty".into()
            } else {
                "the file has a header and no rows".into()
            });
        }
        buffer.extend_from_slice(&block[..n]);
    }
}

fn csv_layout(schema: &FeatureSchema, header: &[String], name: &str) -> Result<Layout, DriftError> {
    let find = |column: &str| header.iter().position(|h| h == column);
    let features: Vec<Option<usize>> = schema.features.iter().map(|f| find(&f.name)).collect();
    let missing: Vec<&str> = schema
        .features
        .iter()
        .zip(&features)
        .filter(|(_, i)| i.is_none())
        .map(|(f, _)| f.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(missing_columns(name, &missing, &header.join(", ")));
    }
    Ok(Layout {
        features,
        target: find(&schema.target.name),
        request_id: find("request_id"),
        width: header.len(),
    })
}

fn missing_columns(name: &str, missing: &[&str], present: &str) -> DriftError {
    DriftError::InvalidData {
        path: name.to_string(),
        message: format!(
            "{} of the schema's feature columns are missing: {} (columns present: {present})",
            missing.len(),
            missing.join(", "),
        ),
    }
}

/// Reads `input` to the end, handing over chunks of whole records (CSV: a newline
/// outside quotes ends a record) until `send` refuses one.
fn cut_chunks(
    input: &mut dyn Read,
    start: Vec<u8>,
    csv: bool,
    mut send: impl FnMut(Chunk) -> bool,
) -> std::io::Result<()> {
    let mut pending = start;
    let mut line = if csv { 2 } else { 1 };
    let mut eof = false;
    let mut want = CHUNK;
    while !eof || !pending.is_empty() {
        while !eof && pending.len() < want {
            let len = pending.len();
            pending.resize(want.max(len + (1 << 16)), 0);
            let n = input.read(&mut pending[len..])?;
            pending.truncate(len + n);
            eof = n == 0;
        }
        let cut = match (eof, last_record_end(&pending, csv)) {
            (true, _) => pending.len(),
            (false, Some(end)) => end,
            // One record longer than a chunk: read on.
            (false, None) => {
                want = pending.len() * 2;
                continue;
            }
        };
        want = CHUNK;
        let rest = pending.split_off(cut);
        let chunk = std::mem::replace(&mut pending, rest);
        let lines = chunk.iter().filter(|&&b| b == b'\n').count();
        if !send(Chunk {
            bytes: chunk,
            first_line: line,
        }) {
            break;
        }
        line += lines;
    }
    Ok(())
}

/// The end (after the newline) of the last complete record in `bytes`.
fn last_record_end(bytes: &[u8], csv: bool) -> Option<usize> {
    if !csv {
        return bytes.iter().rposition(|&b| b == b'\n').map(|i| i + 1);
    }
    let mut quoted = false;
    let mut end = None;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => end = Some(i + 1),
            _ => {}
        }
    }
    end
}

/// A worker's profile, and which features it saw as keys (JSON Lines).
struct Folded {
    profile: WindowProfile,
    seen: Vec<bool>,
}

impl Folded {
    fn merge(&mut self, other: Folded) -> Result<(), String> {
        self.profile
            .merge(&other.profile)
            .map_err(|e| e.to_string())?;
        for (mine, theirs) in self.seen.iter_mut().zip(other.seen) {
            *mine |= theirs;
        }
        Ok(())
    }

    fn finish(mut self, schema: &FeatureSchema, csv: bool) -> Result<WindowProfile, String> {
        if self.profile.rows == 0 {
            return Err("the file has no rows".into());
        }
        if !csv {
            let missing: Vec<&str> = schema
                .features
                .iter()
                .zip(&self.seen)
                .filter(|(_, seen)| !**seen)
                .map(|(f, _)| f.name.as_str())
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "{} of the schema's feature columns are missing: {}",
                    missing.len(),
                    missing.join(", ")
                ));
            }
        }
        if self.profile.ids.as_ref().is_some_and(|ids| ids.rows() == 0) {
            self.profile.ids = None;
        }
        self.profile.labels = self.profile.labels.filter(|l| l.labelled > 0);
        Ok(self.profile)
    }
}

/// A worker: folds chunks until the channel closes.
fn fold_chunks(
    rx: &Mutex<Receiver<Chunk>>,
    schema: &FeatureSchema,
    model: Option<&ModelArtifact>,
    layout: Option<&Layout>,
) -> Result<Folded, String> {
    let mut folder = super::rows::RowFolder::new(schema, model);
    loop {
        let chunk = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return Err("a reader thread failed".into()),
        };
        let Ok(chunk) = chunk else {
            break;
        };
        match layout {
            Some(layout) => folder.csv_chunk(&chunk.bytes, chunk.first_line, layout_of(layout))?,
            None => folder.jsonl_chunk(&chunk.bytes, chunk.first_line)?,
        }
    }
    let (profile, seen) = folder.finish();
    Ok(Folded { profile, seen })
}

fn layout_of(layout: &Layout) -> super::rows::Columns<'_> {
    super::rows::Columns {
        features: &layout.features,
        target: layout.target,
        request_id: layout.request_id,
        width: layout.width,
    }
}
