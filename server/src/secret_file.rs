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

/// The secret stored at `path`, or, on first use, a new one from `create`, stored there first.
/// Errors name the file.
pub fn read_or_create(
    path: &Path,
    create: impl FnOnce() -> Result<String, String>,
) -> Result<String, String> {
    let error = |reason: String| format!("{}: {reason}", path.display());
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let text = create().map_err(error)?;
            write_new(path, text.as_bytes()).map_err(|e| error(e.to_string()))?;
            Ok(text)
        }
        Err(err) => Err(error(err.to_string())),
    }
}

#[cfg(test)]
pub fn assert_owner_only(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", path.display());
    }
}
