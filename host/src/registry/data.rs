//! A payload builder's data directories as OCI layers: each one a tar
//! (`application/vnd.relhost.plugin.data.v1.tar`) of regular files, built
//! reproducibly (sorted paths, no times, no owners) so that the same
//! directory always has the same digest, and unpacked into the cache only
//! after its digest was checked.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Media type of a data layer.
pub const DATA_MEDIA_TYPE: &str = "application/vnd.relhost.plugin.data.v1.tar";
/// The annotation that names a data layer's directory.
pub const DATA_NAME_ANNOTATION: &str = "dev.relhost.plugin.data.name";
/// Most bytes the data layers of one plugin may hold, packed or unpacked
/// (below the largest blob a registry read accepts).
pub const MAX_DATA_BYTES: u64 = 192 << 20;
/// Most data layers one plugin may have (as many as a builder may declare).
pub const MAX_DATA_LAYERS: usize = 16;
/// Most files a data layer may hold.
pub const MAX_DATA_FILES: usize = 100_000;

/// Packs the regular files under `dir` into a reproducible tar. Symlinks
/// and other special files are refused: what is published is what a
/// reader gets.
pub fn pack(dir: &Path) -> Result<Vec<u8>, String> {
    let mut files = Vec::new();
    collect(dir, Path::new(""), &mut files)?;
    files.sort();
    if files.len() > MAX_DATA_FILES {
        return Err(format!(
            "{}: more than {MAX_DATA_FILES} files",
            dir.display()
        ));
    }
    let mut builder = tar::Builder::new(Vec::new());
    let mut total = 0u64;
    for relative in &files {
        let path = dir.join(relative);
        let size = std::fs::metadata(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        // Checked before reading (a huge file is refused, not loaded), with
        // the tar header's 512 bytes counted.
        total = total.saturating_add(size).saturating_add(512);
        if total > MAX_DATA_BYTES {
            return Err(format!(
                "{}: more than {MAX_DATA_BYTES} bytes of data",
                dir.display()
            ));
        }
        let bytes =
            std::fs::read(&path).map_err(|e| format!("{}: cannot read it: {e}", path.display()))?;
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, relative, bytes.as_slice())
            .map_err(|e| format!("{}: {e}", relative.display()))?;
    }
    builder.into_inner().map_err(|e| e.to_string())
}

fn collect(root: &Path, relative: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let here = root.join(relative);
    let entries =
        std::fs::read_dir(&here).map_err(|e| format!("{}: cannot list it: {e}", here.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", here.display()))?;
        let kind = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        let path = relative.join(entry.file_name());
        if kind.is_dir() {
            collect(root, &path, files)?;
        } else if kind.is_file() {
            files.push(path);
        } else {
            return Err(format!(
                "{}: not a regular file or directory (symlinks are not published)",
                root.join(&path).display()
            ));
        }
    }
    Ok(())
}

/// Unpacks a data layer into `dest` (which must not exist yet): regular
/// files and directories at relative paths only, within the size and
/// file-count limits.
pub fn unpack(tar_bytes: &[u8], dest: &Path) -> Result<(), String> {
    let mut archive = tar::Archive::new(tar_bytes);
    let entries = archive.entries().map_err(|e| e.to_string())?;
    let (mut total, mut count) = (0u64, 0usize);
    std::fs::create_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        let safe = path.components().all(|c| matches!(c, Component::Normal(_)));
        if !safe || path.as_os_str().is_empty() {
            return Err(format!("entry {}: not a relative path", path.display()));
        }
        let target = dest.join(&path);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            tar::EntryType::Regular => {
                count += 1;
                total += entry.size();
                if total > MAX_DATA_BYTES || count > MAX_DATA_FILES {
                    return Err(format!(
                        "more than {MAX_DATA_BYTES} bytes or {MAX_DATA_FILES} files"
                    ));
                }
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                }
                let mut bytes = Vec::with_capacity(entry.size() as usize);
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                std::fs::write(&target, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            other => {
                return Err(format!(
                    "entry {}: a {other:?}, not a regular file",
                    path.display()
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_is_reproducible_and_unpacks_to_the_same_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("b.json"), b"{\"b\":1}").expect("write");
        std::fs::write(dir.path().join("sub/a.json"), b"{\"a\":1}").expect("write");
        let one = pack(dir.path()).expect("pack");
        let two = pack(dir.path()).expect("pack again");
        assert_eq!(one, two, "same directory, same bytes");
        let out = tempfile::tempdir().expect("tempdir");
        let dest = out.path().join("x");
        unpack(&one, &dest).expect("unpack");
        assert_eq!(std::fs::read(dest.join("b.json")).expect("b"), b"{\"b\":1}");
        assert_eq!(
            std::fs::read(dest.join("sub/a.json")).expect("a"),
            b"{\"a\":1}"
        );

        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("leak")).expect("symlink");
        let err = pack(dir.path()).expect_err("a symlink is refused");
        assert!(err.contains("symlinks are not published"), "{err}");
    }

    #[test]
    fn unpacking_refuses_paths_that_leave_and_links() {
        let out = tempfile::tempdir().expect("tempdir");
        let mut evil = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_entry_type(tar::EntryType::Regular);
        // The builder refuses `..` itself; write the name raw.
        header.as_gnu_mut().expect("gnu").name[..9].copy_from_slice(b"../escape");
        header.set_cksum();
        evil.append(&header, &b"x"[..]).expect("append");
        let bytes = evil.into_inner().expect("tar");
        let err = unpack(&bytes, &out.path().join("d")).expect_err("refused");
        assert!(err.contains("not a relative path"), "{err}");
        assert!(!out.path().join("escape").exists());

        let mut link = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_size(0);
        header.set_entry_type(tar::EntryType::Symlink);
        link.append_link(&mut header, "leak", "/etc/hostname")
            .expect("append");
        let bytes = link.into_inner().expect("tar");
        let err = unpack(&bytes, &out.path().join("e")).expect_err("refused");
        assert!(err.contains("not a regular file"), "{err}");
    }
}
