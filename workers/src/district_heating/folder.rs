//! The plain-folder transport: the exchange is a local directory that something else syncs.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

use super::Exchange;

pub struct Folder {
    pub dir: PathBuf,
    /// Energy files younger than this may still be being written by the partner: not yet listed.
    pub settle: Duration,
}

impl Exchange for Folder {
    fn describe(&self) -> String {
        format!("folder {}", self.dir.display())
    }

    async fn list(&mut self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).with_context(|| format!("listing {}", self.dir.display())),
        };
        let now = SystemTime::now();
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", self.dir.display()))?;
            let meta = entry.metadata()?;
            let settled = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_none_or(|age| age >= self.settle);
            if meta.is_file() && settled {
                names.extend(entry.file_name().to_str().map(str::to_string));
            }
        }
        Ok(names)
    }

    async fn download(&mut self, name: &str) -> Result<Vec<u8>> {
        let path = self.dir.join(name);
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    }

    async fn upload(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let path = self.dir.join(name);
        // Atomic: the partner never sees half a request file.
        let tmp = self.dir.join(format!("{name}.tmp"));
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    }

    async fn delete(&mut self, name: &str) -> Result<()> {
        let path = self.dir.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("deleting {}", path.display()))
            }
            _ => Ok(()),
        }
    }
}
