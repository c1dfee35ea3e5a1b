//! Opening an input file: plain or gzip (by its magic bytes, whatever its name), counting the
//! bytes read from disk so that the progress bar moves with the file, compressed or not.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use flate2::read::MultiGzDecoder;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A reader that adds what it reads to a shared counter.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// `path` as text lines, decompressed if it is gzip; `read` counts the bytes taken from disk.
pub fn open(path: &Path, read: Arc<AtomicU64>) -> Result<Box<dyn BufRead>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut raw = BufReader::with_capacity(1 << 16, Counting { inner: file, read });
    let head = raw
        .fill_buf()
        .with_context(|| format!("cannot read {}", path.display()))?;
    if head.starts_with(&GZIP_MAGIC) {
        // Multi-member: `cat a.gz b.gz` and pigz's output are valid gzip too.
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            MultiGzDecoder::new(raw),
        )))
    } else {
        Ok(Box::new(raw))
    }
}

/// Whether the file's name says it is CSV (`.csv`, `.csv.gz`).
pub fn looks_like_csv(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    name.ends_with(".csv")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_is_recognised_by_content_and_counted_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let text = "m v=1 1\n".repeat(1000);
        let path = dir.path().join("export.lp"); // no .gz: the magic bytes decide
        let mut gz = flate2::write::GzEncoder::new(
            File::create(&path).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(text.as_bytes()).unwrap();
        gz.finish().unwrap();
        let read = Arc::new(AtomicU64::new(0));
        let mut out = String::new();
        open(&path, read.clone())
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, text);
        let on_disk = std::fs::metadata(&path).unwrap().len();
        assert_eq!(read.load(Ordering::Relaxed), on_disk);
        assert!(on_disk < text.len() as u64);
    }

    #[test]
    fn csv_by_name() {
        assert!(looks_like_csv(Path::new("a/readings.CSV")));
        assert!(looks_like_csv(Path::new("readings.csv.gz")));
        assert!(!looks_like_csv(Path::new("export.lp.gz")));
        assert!(!looks_like_csv(Path::new("export")));
    }
}
