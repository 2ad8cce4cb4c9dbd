//! A directory laid out exactly as the kubelet mounts a ConfigMap volume:
//! `..<timestamp>/` holds the files, `..data` points at it, and each file is a
//! symlink through `..data`. Updates follow the kubelet's atomic writer.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// A ConfigMap mount.
pub struct ConfigMapMount {
    root: tempfile::TempDir,
    generation: u32,
    current: Option<PathBuf>,
    names: Vec<String>,
}

impl ConfigMapMount {
    /// A mount holding `files` (name, contents).
    pub fn new(files: &[(&str, &[u8])]) -> ConfigMapMount {
        let mut mount = ConfigMapMount {
            root: tempfile::tempdir().unwrap(),
            generation: 0,
            current: None,
            names: Vec::new(),
        };
        mount.update(files);
        mount
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.root.path()
    }

    /// Replaces the whole content as the kubelet does: write a new timestamped
    /// directory, point `..data_tmp` at it, rename it over `..data` (the
    /// atomic step), add and remove the per-file symlinks, delete the old
    /// directory.
    pub fn update(&mut self, files: &[(&str, &[u8])]) {
        self.generation += 1;
        let root = self.root.path().to_owned();
        let dir_name = format!(
            "..2026_11_21_00_00_{:02}.{:09}",
            self.generation, self.generation
        );
        let dir = root.join(&dir_name);
        std::fs::create_dir(&dir).unwrap();
        for (name, contents) in files {
            std::fs::write(dir.join(name), contents).unwrap();
        }
        symlink(&dir_name, root.join("..data_tmp")).unwrap();
        std::fs::rename(root.join("..data_tmp"), root.join("..data")).unwrap();
        let new_names: Vec<String> = files.iter().map(|(n, _)| (*n).to_owned()).collect();
        for name in &new_names {
            if !self.names.contains(name) {
                symlink(format!("..data/{name}"), root.join(name)).unwrap();
            }
        }
        for name in &self.names {
            if !new_names.contains(name) {
                std::fs::remove_file(root.join(name)).unwrap();
            }
        }
        if let Some(old) = self.current.replace(dir) {
            std::fs::remove_dir_all(old).unwrap();
        }
        self.names = new_names;
    }
}
