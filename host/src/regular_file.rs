//! Opening a file the host reads from a path an operator (or attacker)
//! controls — a function module, an env file — only if it is a regular file
//! after following symlinks. Blocking: call it off the async workers.

use std::fs::{File, Metadata};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why a path was not opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// It cannot be opened or examined.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// It is something else than a regular file: "a FIFO", "a device", ….
    #[error("{0}, not a regular file")]
    NotAFile(&'static str),
}

/// Opens `path` if it is a regular file, with its metadata. `O_NONBLOCK`:
/// opening a FIFO for reading would otherwise wait for a writer forever.
/// The type is checked on the opened file, so it cannot be swapped between
/// the check and the read.
pub fn open(path: &Path) -> Result<(File, Metadata), OpenError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    let kind = meta.file_type();
    if kind.is_dir() {
        return Err(OpenError::NotAFile("a directory"));
    } else if kind.is_fifo() {
        return Err(OpenError::NotAFile("a FIFO"));
    } else if kind.is_char_device() || kind.is_block_device() {
        return Err(OpenError::NotAFile("a device"));
    } else if !kind.is_file() {
        return Err(OpenError::NotAFile("a socket or other special file"));
    }
    Ok((file, meta))
}
