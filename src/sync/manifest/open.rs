//! Paths looked up from the nearest folder the walk holds open instead of from the root.
//! On a warm re-verify the kernel's path lookups are most of the work, and datastore
//! paths are deep (`<root>/ab/cd/ef/01/<uuid>`): from an open `ab/cd`, a file is three
//! names away instead of the root's depth plus five.

use std::fs::File;
use std::io::ErrorKind;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use color_eyre::eyre::{Result, WrapErr};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};

use super::cache::Stamp;

/// A folder is held open while its children are looked at if it has at least this many:
/// opening it costs about what one lookup of its path does.
pub const OPEN_AT_CHILDREN: usize = 4;

/// What `lstat` found at a path.
pub struct Found {
    pub kind: Kind,
    pub stamp: Stamp,
    pub size: u64,
    /// Permission bits (`st_mode & 0o7777`).
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Folder,
    File,
    /// Links, devices and the like: not documents.
    Other,
}

/// The root and the folders under it the walk holds open, innermost last, each with its
/// path from the root.
pub struct Folders {
    root: PathBuf,
    root_fd: OwnedFd,
    open: Vec<(String, OwnedFd)>,
}

impl Folders {
    pub fn new(root: &Path) -> Result<Folders> {
        let fd = rustix::fs::open(root, dir_flags(), Mode::empty())
            .wrap_err_with(|| format!("opening {}", root.display()))?;
        Ok(Folders {
            root: root.to_path_buf(),
            root_fd: fd,
            open: Vec::new(),
        })
    }

    /// The full path, for messages and for reading a folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The innermost open folder and `rel` from there (the walk enters and leaves in
    /// order, so it is an ancestor of what is asked; if not, the root is used).
    fn at<'r>(&self, rel: &'r str) -> (BorrowedFd<'_>, &'r str) {
        let inner = self.open.last().and_then(|(folder, fd)| {
            let tail = rel.strip_prefix(folder.as_str())?.strip_prefix('/')?;
            Some((fd.as_fd(), tail))
        });
        inner.unwrap_or((self.root_fd.as_fd(), rel))
    }

    /// `lstat` of `rel`, or `None` when it vanished: a live datastore removes files
    /// (OpenKM writes a temporary file and renames it). Any other error fails the build.
    pub fn look(&self, rel: &str) -> Result<Option<Found>> {
        let (fd, tail) = self.at(rel);
        match rustix::fs::statat(fd, tail, AtFlags::SYMLINK_NOFOLLOW) {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).wrap_err_with(|| format!("stat {}", self.path(rel).display())),
            Ok(st) => Ok(Some(found(&st))),
        }
    }

    /// Holds the folder `rel` open until [`leave`](Folders::leave); false (and nothing
    /// to leave) when it vanished.
    pub fn enter(&mut self, rel: &str) -> Result<bool> {
        let (fd, tail) = self.at(rel);
        match rustix::fs::openat(fd, tail, dir_flags(), Mode::empty()) {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).wrap_err_with(|| format!("opening {}", self.path(rel).display())),
            Ok(fd) => {
                self.open.push((rel.to_string(), fd));
                Ok(true)
            }
        }
    }

    pub fn leave(&mut self) {
        self.open.pop();
    }

    /// The file `rel` open for reading, or `None` when it vanished.
    pub fn open_file(&self, rel: &str) -> Result<Option<File>> {
        let (fd, tail) = self.at(rel);
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        match rustix::fs::openat(fd, tail, flags, Mode::empty()) {
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).wrap_err_with(|| format!("opening {}", self.path(rel).display())),
            Ok(fd) => Ok(Some(File::from(fd))),
        }
    }
}

/// Folders are opened only to look up from: no reading through them.
fn dir_flags() -> OFlags {
    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC
}

/// The field types of `struct stat` differ between targets, hence the casts.
#[allow(clippy::unnecessary_cast)]
fn found(st: &Stat) -> Found {
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => Kind::Folder,
        FileType::RegularFile => Kind::File,
        _ => Kind::Other,
    };
    Found {
        kind,
        stamp: Stamp {
            mtime: st.st_mtime as i64 * 1_000_000_000 + st.st_mtime_nsec as i64,
            ctime: st.st_ctime as i64 * 1_000_000_000 + st.st_ctime_nsec as i64,
            ino: st.st_ino as u64,
        },
        size: st.st_size as u64,
        perm: st.st_mode as u32 & 0o7777,
        uid: st.st_uid as u32,
        gid: st.st_gid as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_look_from_an_open_folder_finds_what_a_look_from_the_root_does() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("ab/cd")).unwrap();
        std::fs::write(dir.path().join("ab/cd/f"), b"12345").unwrap();
        std::fs::write(dir.path().join("top"), b"1").unwrap();
        let mut folders = Folders::new(dir.path()).unwrap();
        let from_root = folders.look("ab/cd/f").unwrap().unwrap();
        assert!(folders.enter("ab").unwrap());
        assert!(folders.enter("ab/cd").unwrap());
        let from_inside = folders.look("ab/cd/f").unwrap().unwrap();
        assert_eq!((from_inside.kind, from_inside.size), (Kind::File, 5));
        assert_eq!(from_inside.stamp, from_root.stamp);
        // Not under the open folder: looked up from the root, not misread.
        assert_eq!(folders.look("top").unwrap().unwrap().size, 1);
        assert!(folders.look("ab/cd/gone").unwrap().is_none());
        assert!(!folders.enter("ab/cd/nothing").unwrap(), "vanished");
        folders.leave();
        folders.leave();
        assert_eq!(folders.look("ab").unwrap().unwrap().kind, Kind::Folder);
    }
}
