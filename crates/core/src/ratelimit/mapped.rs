//! The memory both rate-limit tables (`window`, `fixed`) keep their slots in, and
//! the keyed hash they index it by.
//!
//! A table is `HEADER_WORDS` header words (magic, capacity, hash seed, then
//! table-specific words) followed by `cap * slot_words` slot words, in either an
//! anonymous private mapping (one process; zero pages on first touch, returned to
//! the OS at once when a grown table replaces it, so RSS follows the table's byte
//! count) or a file mapped shared by every process that opens the same path.

use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) const HEADER_WORDS: usize = 8;

/// A mapping, unmapped on drop.
pub(crate) struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

impl Drop for Mapping {
    fn drop(&mut self) {
        unsafe {
            libc::munmap(self.ptr, self.len);
        }
    }
}

fn table_len(cap: usize, slot_words: usize) -> usize {
    (HEADER_WORDS + cap * slot_words) * 8
}

impl Mapping {
    /// The table's words (header first).
    pub(crate) fn words(&self) -> *const AtomicU64 {
        self.ptr as *const AtomicU64
    }

    /// A zeroed in-process table of `cap` slots with its header written.
    pub(crate) fn anonymous(cap: usize, slot_words: usize, magic: u64, seed: (u64, u64)) -> Mapping {
        let len = table_len(cap, slot_words);
        let ptr = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0)
        };
        assert!(ptr != libc::MAP_FAILED, "rate-limit table: mmap failed");
        let m = Mapping { ptr, len };
        let header = |i: usize| unsafe { &*m.words().add(i) };
        header(0).store(magic, Ordering::Relaxed);
        header(1).store(cap as u64, Ordering::Relaxed);
        header(2).store(seed.0, Ordering::Relaxed);
        header(3).store(seed.1, Ordering::Relaxed);
        m
    }

    /// Map (creating it if needed) a table of `cap` slots in the file at `path`.
    /// The first opener sizes the file and writes the header under an `flock`
    /// held only during initialisation; later openers use the capacity in the
    /// header. Returns the mapping and its capacity.
    pub(crate) fn open_shared(path: &str, cap: usize, min_cap: usize, slot_words: usize, magic: u64) -> Result<(Mapping, usize), String> {
        use std::ffi::CString;
        let cpath = CString::new(path).map_err(|e| e.to_string())?;
        unsafe {
            let fd = libc::open(cpath.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_CLOEXEC, 0o600);
            if fd < 0 {
                return Err(format!("open {path}: {}", std::io::Error::last_os_error()));
            }
            let close = |e: &str| {
                libc::close(fd);
                Err(e.to_string())
            };
            if libc::flock(fd, libc::LOCK_EX) != 0 {
                return close("flock");
            }
            let mut st: libc::stat = std::mem::zeroed();
            libc::fstat(fd, &mut st);
            let mut head = [0u64; HEADER_WORDS];
            let fresh = (st.st_size as usize) < HEADER_WORDS * 8
                || libc::pread(fd, head.as_mut_ptr() as *mut libc::c_void, HEADER_WORDS * 8, 0) != (HEADER_WORDS * 8) as isize
                || head[0] != magic;
            let cap = if fresh { cap.max(min_cap) } else { head[1] as usize };
            let len = table_len(cap, slot_words);
            if fresh {
                let seed = random_seed();
                if libc::ftruncate(fd, 0) != 0 || libc::ftruncate(fd, len as libc::off_t) != 0 {
                    return close("ftruncate");
                }
                let h = [0u64, cap as u64, seed.0, seed.1, 0, 0, 0, 0];
                libc::pwrite(fd, h.as_ptr() as *const libc::c_void, HEADER_WORDS * 8, 0);
                // The magic goes last: a reader never sees it before the rest of the header.
                let m = [magic];
                libc::pwrite(fd, m.as_ptr() as *const libc::c_void, 8, 0);
            } else if (st.st_size as usize) < len {
                return close("shared table file is truncated");
            }
            let ptr = libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0);
            libc::flock(fd, libc::LOCK_UN);
            libc::close(fd);
            if ptr == libc::MAP_FAILED {
                return Err(format!("mmap: {}", std::io::Error::last_os_error()));
            }
            Ok((Mapping { ptr, len }, cap))
        }
    }
}

/// SipHash of `key` under the table's seed; never 0 (0 marks an empty slot).
pub(crate) fn hash_with(seed: (u64, u64), key: &[u8]) -> u64 {
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new_with_keys(seed.0, seed.1);
    h.write(key);
    let v = h.finish();
    if v == 0 {
        1
    } else {
        v
    }
}

pub(crate) fn random_seed() -> (u64, u64) {
    let mut buf = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut buf);
    }
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    let a = u64::from_le_bytes(buf[..8].try_into().unwrap()) ^ t;
    let b = u64::from_le_bytes(buf[8..].try_into().unwrap()) ^ (std::process::id() as u64).rotate_left(32);
    (a, b)
}
