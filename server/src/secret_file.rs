//! Files that hold secrets (signing keys): created with owner-only permissions, never replaced.

use std::{io::Write, path::Path};

/// Creates `path` with mode 0600 and writes `contents`; fails if it already exists.
pub fn write_new(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}
