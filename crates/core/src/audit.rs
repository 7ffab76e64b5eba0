//! audit: the file-level work behind `fast-litellm audit`.
//!
//! Everything here is offline and read-only. Given a directory that holds
//! installed distributions (a `site-packages`, or any `sys.path` entry with
//! `*.dist-info` folders), it can:
//!
//! * list the distributions there (name and version from each `METADATA`);
//! * verify every file a distribution's wheel `RECORD` lists against its
//!   recorded hash and size (in parallel, with rayon);
//! * walk the distribution's top-level package directories and report files
//!   that no `RECORD` in that directory lists (bytecode caches are classified
//!   separately, see [`UnlistedKind`]);
//! * scan the directory's `*.pth` files for the lines `site.py` executes at
//!   interpreter start (those beginning with `import` + space or tab).
//!
//! Policy (what is a finding, the allowlist, the known-compromised list) lives
//! in the Python layer; this module only reports facts.

use rayon::prelude::*;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

// -- RECORD parsing -----------------------------------------------------------

/// One row of a wheel `RECORD` file: `path,algorithm=digest,size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordEntry {
    pub path: String,
    /// `(algorithm, urlsafe-base64 digest without padding)`; `None` when the
    /// hash field is empty (RECORD itself, compiled bytecode, signatures).
    pub hash: Option<(String, String)>,
    /// The hash field when it is present but not `algorithm=digest`.
    pub bad_hash_field: Option<String>,
    pub size: Option<u64>,
}

/// Split one CSV line (the `csv` module's default dialect: comma separated,
/// fields optionally double-quoted with `""` as an escaped quote).
fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    quoted = false;
                }
            } else {
                field.push(c);
            }
        } else if c == '"' {
            quoted = true;
        } else if c == ',' {
            fields.push(std::mem::take(&mut field));
        } else {
            field.push(c);
        }
    }
    fields.push(field);
    fields
}

/// Parse the text of a `RECORD` file. Blank lines are skipped; rows with a
/// missing or unparsable size keep `size: None`.
pub fn parse_record(text: &str) -> Vec<RecordEntry> {
    let mut out = Vec::new();
    for raw in text.lines() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<String> = if line.contains('"') {
            split_csv_line(line)
        } else {
            // No quoting: the path is everything before the last two commas.
            let mut it = line.rsplitn(3, ',');
            let (size, hash, path) = (it.next(), it.next(), it.next());
            match (path, hash, size) {
                (Some(p), Some(h), Some(s)) => vec![p.to_string(), h.to_string(), s.to_string()],
                _ => split_csv_line(line),
            }
        };
        let path = fields[0].clone();
        if path.is_empty() {
            continue;
        }
        let hash_field = fields.get(1).map(|s| s.trim()).unwrap_or("");
        let (hash, bad_hash_field) = if hash_field.is_empty() {
            (None, None)
        } else if let Some((algo, digest)) = hash_field.split_once('=') {
            let digest = digest.trim_end_matches('=');
            if algo.is_empty() || digest.is_empty() {
                (None, Some(hash_field.to_string()))
            } else {
                (Some((algo.to_ascii_lowercase(), digest.to_string())), None)
            }
        } else {
            (None, Some(hash_field.to_string()))
        };
        let size = fields.get(2).and_then(|s| s.trim().parse::<u64>().ok());
        out.push(RecordEntry {
            path,
            hash,
            bad_hash_field,
            size,
        });
    }
    out
}

// -- hashing ------------------------------------------------------------------

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// URL-safe base64 without padding, the encoding `RECORD` uses for digests.
pub fn b64url_nopad(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 4 / 3 + 3);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let symbols = chunk.len() + 1;
        for i in 0..symbols {
            out.push(B64URL[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

pub fn to_hex(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(data.len() * 2);
    for b in data {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

thread_local! {
    /// One read buffer per worker thread, reused for every file it hashes.
    static READ_BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 256 * 1024]);
}

fn stream_digest<D: Digest>(file: &mut fs::File) -> std::io::Result<(Vec<u8>, u64)> {
    READ_BUF.with(|cell| {
        let mut buf = cell.borrow_mut();
        let mut hasher = D::new();
        let mut total = 0u64;
        loop {
            let n = match file.read(&mut buf[..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                break;
            }
            total += n as u64;
            hasher.update(&buf[..n]);
        }
        Ok((hasher.finalize().to_vec(), total))
    })
}

/// Hash a file with a RECORD algorithm name. `Ok(None)` if the algorithm is
/// not one of the SHA-2 family (wheels use sha256; md5/sha1 are forbidden).
pub fn hash_file(path: &Path, algo: &str) -> std::io::Result<Option<(Vec<u8>, u64)>> {
    let mut f = fs::File::open(path)?;
    Ok(Some(match algo {
        "sha256" => stream_digest::<Sha256>(&mut f)?,
        "sha224" => stream_digest::<Sha224>(&mut f)?,
        "sha384" => stream_digest::<Sha384>(&mut f)?,
        "sha512" => stream_digest::<Sha512>(&mut f)?,
        _ => return Ok(None),
    }))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

// -- paths --------------------------------------------------------------------

/// Lexically normalise `base/rel` (resolve `.` and `..` without touching the
/// file system), so RECORD paths and walked paths compare equal.
pub fn normalize(base: &Path, rel: &str) -> PathBuf {
    let joined = base.join(rel);
    let mut out = PathBuf::new();
    for comp in joined.components() {
        match comp {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn is_bytecode(path: &str) -> bool {
    path.ends_with(".pyc") || path.ends_with(".pyo")
}

/// Entries that legitimately carry no hash.
fn unhashed_allowed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    is_bytecode(path) || name == "RECORD" || name == "RECORD.jws" || name == "RECORD.p7s"
}

// -- distributions ------------------------------------------------------------

/// A `*.dist-info` directory found in a base directory.
#[derive(Debug, Clone)]
pub struct DistInfo {
    pub dist_info: PathBuf,
    pub name: Option<String>,
    pub version: Option<String>,
    /// `dist_info/RECORD` when it exists.
    pub record: Option<PathBuf>,
}

/// Name and Version from the header block of a METADATA file.
pub fn metadata_name_version(text: &str) -> (Option<String>, Option<String>) {
    let (mut name, mut version) = (None, None);
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            break; // the body (long description) follows the first blank line
        }
        if let Some((key, value)) = line.split_once(':') {
            let key = key.trim().to_ascii_lowercase();
            if key == "name" && name.is_none() {
                name = Some(value.trim().to_string());
            } else if key == "version" && version.is_none() {
                version = Some(value.trim().to_string());
            }
        }
    }
    (name, version)
}

/// Every `*.dist-info` directory in `base`, sorted by directory name.
pub fn list_distributions(base: &Path) -> std::io::Result<Vec<DistInfo>> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(base)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".dist-info"))
        .filter(|e| e.path().is_dir())
        .map(|e| e.path())
        .collect();
    dirs.sort();
    Ok(dirs
        .into_par_iter()
        .map(|dir| {
            let text = read_header(&dir.join("METADATA"))
                .or_else(|| read_header(&dir.join("PKG-INFO")))
                .unwrap_or_default();
            let (name, version) = metadata_name_version(&text);
            let record = dir.join("RECORD");
            let record = if record.is_file() { Some(record) } else { None };
            DistInfo {
                dist_info: dir,
                name,
                version,
                record,
            }
        })
        .collect())
}

/// The header part of a metadata file (enough for Name and Version): read
/// line by line up to the first blank line, so long descriptions are skipped.
fn read_header(path: &Path) -> Option<String> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::with_capacity(8192, fs::File::open(path).ok()?);
    let mut out = String::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).ok()? == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim_end_matches(['\r', '\n']).is_empty() {
            break;
        }
        out.push_str(&text);
    }
    Some(out)
}

// -- verification -------------------------------------------------------------

/// What is wrong with one RECORD entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Listed, but not on disk.
    Missing,
    /// Content differs from the recorded digest.
    Modified {
        algorithm: String,
        expected: String,
        actual: String,
        expected_size: Option<u64>,
        actual_size: u64,
    },
    /// Digest matches but the recorded size does not (a broken RECORD).
    SizeMismatch { expected: u64, actual: u64 },
    /// The hash algorithm is not one this checker (or the wheel spec) accepts.
    UnsupportedAlgorithm(String),
    /// The hash field could not be parsed.
    BadHashField(String),
    /// A file other than RECORD/bytecode/signature listed without a hash.
    NoHash,
    /// Exists but could not be read (permissions, a directory, ...).
    Unreadable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIssue {
    pub path: String,
    pub problem: Problem,
}

/// How an unlisted file found in a package directory is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlistedKind {
    /// `__pycache__/<module>.<tag>.pyc` whose `<module>.py` exists: written by
    /// the interpreter (or pip) after install; informational.
    CachedBytecode,
    /// `__pycache__/*.pyc` with no source next to it: suspicious.
    OrphanBytecode,
    /// Anything else no RECORD in the directory lists.
    Unlisted,
}

#[derive(Debug, Clone)]
pub struct Unlisted {
    /// Path relative to the base directory, `/`-separated.
    pub path: String,
    pub kind: UnlistedKind,
}

#[derive(Debug, Clone, Default)]
pub struct DistReport {
    pub record: PathBuf,
    /// Rows in RECORD.
    pub entries: usize,
    /// Entries whose hash (and size) were checked and matched.
    pub verified: usize,
    /// Bytes hashed.
    pub bytes: u64,
    pub issues: Vec<FileIssue>,
    /// Top-level directories walked for unlisted files.
    pub package_dirs: Vec<String>,
    pub unlisted: Vec<Unlisted>,
    /// RECORD could not be read at all.
    pub error: Option<String>,
}

fn check_entry(base: &Path, entry: &RecordEntry) -> (Option<FileIssue>, u64) {
    let issue = |problem| {
        Some(FileIssue {
            path: entry.path.clone(),
            problem,
        })
    };
    let full = normalize(base, &entry.path);
    if let Some(bad) = &entry.bad_hash_field {
        return (issue(Problem::BadHashField(bad.clone())), 0);
    }
    let (algo, expected) = match &entry.hash {
        Some(h) => h,
        None => {
            if unhashed_allowed(&entry.path) {
                return (None, 0);
            }
            if fs::symlink_metadata(&full).is_err() {
                return (issue(Problem::Missing), 0);
            }
            return (issue(Problem::NoHash), 0);
        }
    };
    match hash_file(&full, algo) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (issue(Problem::Missing), 0),
        Err(e) => (issue(Problem::Unreadable(e.to_string())), 0),
        Ok(None) => (issue(Problem::UnsupportedAlgorithm(algo.clone())), 0),
        Ok(Some((digest, size))) => {
            let actual = b64url_nopad(&digest);
            if &actual != expected {
                (
                    issue(Problem::Modified {
                        algorithm: algo.clone(),
                        expected: expected.clone(),
                        actual,
                        expected_size: entry.size,
                        actual_size: size,
                    }),
                    size,
                )
            } else if entry.size.is_some_and(|s| s != size) {
                (
                    issue(Problem::SizeMismatch {
                        expected: entry.size.unwrap(),
                        actual: size,
                    }),
                    size,
                )
            } else {
                (None, size)
            }
        }
    }
}

/// Verify RECORD entries relative to `base`, in parallel. Returns the issues
/// (in RECORD order), the number of verified entries and the bytes hashed.
pub fn verify_entries(base: &Path, entries: &[RecordEntry]) -> (Vec<FileIssue>, usize, u64) {
    // Largest files first, so one big file (LiteLLM 1.110.2 ships a 45 MB
    // extension module) overlaps with the many small ones instead of finishing last.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(entries[i].size.unwrap_or(0)));
    let mut results: Vec<(usize, Option<FileIssue>, u64, bool)> = order
        .par_iter()
        .with_max_len(1)
        .map(|&i| {
            let e = &entries[i];
            let (issue, bytes) = check_entry(base, e);
            let verified = issue.is_none() && e.hash.is_some();
            (i, issue, bytes, verified)
        })
        .collect();
    results.sort_by_key(|r| r.0);
    let mut issues = Vec::new();
    let (mut verified, mut bytes) = (0usize, 0u64);
    for (_, issue, b, ok) in results {
        bytes += b;
        verified += ok as usize;
        if let Some(i) = issue {
            issues.push(i);
        }
    }
    (issues, verified, bytes)
}

fn classify(rel: &str, full: &Path) -> UnlistedKind {
    let mut parts = rel.rsplit('/');
    let name = parts.next().unwrap_or("");
    let parent = parts.next().unwrap_or("");
    if parent == "__pycache__" && is_bytecode(name) {
        let module = name.split('.').next().unwrap_or("");
        let pkg_dir = full.parent().and_then(|p| p.parent());
        if let Some(dir) = pkg_dir {
            if !module.is_empty() && dir.join(format!("{module}.py")).is_file() {
                return UnlistedKind::CachedBytecode;
            }
        }
        return UnlistedKind::OrphanBytecode;
    }
    UnlistedKind::Unlisted
}

/// Files under `dir` (recursively, without following symlinks) whose path
/// relative to `base` is not in `owned`.
fn walk_unlisted(base: &Path, dir: &Path, owned: &HashMap<String, usize>) -> Vec<Unlisted> {
    let entries: Vec<fs::DirEntry> = match fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).collect(),
        Err(_) => return Vec::new(),
    };
    let mut out: Vec<Unlisted> = entries
        .par_iter()
        .flat_map_iter(|e| {
            let path = e.path();
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
            if is_dir {
                return walk_unlisted(base, &path, owned);
            }
            let rel = path
                .strip_prefix(base)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|_| path.to_string_lossy().into_owned());
            if owned.contains_key(&rel) {
                Vec::new()
            } else {
                let kind = classify(&rel, &path);
                vec![Unlisted { path: rel, kind }]
            }
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// `path` (a RECORD path) relative to `base`, normalised, or `None` when it
/// points outside `base`. Clean relative paths (the common case) are kept as is.
fn rel_key(base: &Path, path: &str) -> Option<String> {
    let clean = !path.starts_with('/')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    if clean {
        return Some(path.to_string());
    }
    let full = normalize(base, path);
    full.strip_prefix(base)
        .ok()
        .map(|r| r.to_string_lossy().into_owned())
}

/// Top-level package directories of a distribution: the first component of
/// its relative RECORD paths (not `__pycache__`), when it is a directory.
fn package_dirs(base: &Path, entries: &[RecordEntry]) -> Vec<String> {
    let mut tops: Vec<String> = entries
        .iter()
        .filter_map(|e| rel_key(base, &e.path))
        .filter_map(|k| k.split_once('/').map(|(top, _)| top.to_string()))
        .filter(|top| top != "__pycache__")
        .collect();
    tops.sort();
    tops.dedup();
    tops.retain(|t| base.join(t).is_dir());
    tops
}

// -- .pth files ---------------------------------------------------------------

/// A `.pth` file in a site directory.
#[derive(Debug, Clone, Default)]
pub struct PthFile {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    /// The RECORD that lists this file, if any.
    pub owner_record: Option<PathBuf>,
    /// `(1-based line number, line)` for lines `site.py` executes.
    pub exec_lines: Vec<(usize, String)>,
    /// Other non-comment lines: directories `site.py` appends to `sys.path`.
    pub path_lines: Vec<String>,
    pub error: Option<String>,
}

/// The lines of a `.pth` file's text that `site.addpackage` executes (it
/// `exec`s lines starting with "import " or "import\t", with no leading
/// whitespace allowed) and the lines it treats as paths.
pub fn scan_pth_text(text: &str) -> (Vec<(usize, String)>, Vec<String>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut exec_lines = Vec::new();
    let mut path_lines = Vec::new();
    // site.py iterates the file object: universal newlines.
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let line = line.trim_end_matches('\n').trim_end_matches('\r');
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if line.starts_with("import ") || line.starts_with("import\t") {
            exec_lines.push((i + 1, line.to_string()));
        } else {
            path_lines.push(line.trim_end().to_string());
        }
    }
    (exec_lines, path_lines)
}

fn scan_pth_file(path: &Path, owned: &HashMap<String, usize>, records: &[PathBuf]) -> PthFile {
    let mut out = PthFile {
        path: path.to_path_buf(),
        ..Default::default()
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.owner_record = owned.get(&name).map(|&i| records[i].clone());
    match fs::read(path) {
        Ok(bytes) => {
            out.sha256 = sha256_hex(&bytes);
            out.size = bytes.len() as u64;
            let text = String::from_utf8_lossy(&bytes);
            let (e, p) = scan_pth_text(&text);
            out.exec_lines = e;
            out.path_lines = p;
        }
        Err(e) => out.error = Some(e.to_string()),
    }
    out
}

// -- one base directory ---------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct BaseReport {
    pub base: PathBuf,
    pub dists: Vec<DistReport>,
    pub pth: Vec<PthFile>,
    /// RECORD files in `base` that could not be read (ownership may be incomplete).
    pub record_errors: Vec<(PathBuf, String)>,
}

fn read_record(path: &Path) -> Result<Vec<RecordEntry>, String> {
    fs::read(path)
        .map(|b| parse_record(&String::from_utf8_lossy(&b)))
        .map_err(|e| e.to_string())
}

/// Audit the distributions whose RECORD files are `targets` (all inside
/// `base`), and the `.pth` files of `base` when `scan_pth`. Ownership (for
/// unlisted files and `.pth` owners) comes from every `*.dist-info/RECORD` in
/// `base`.
pub fn audit_base(base: &Path, targets: &[PathBuf], scan_pth: bool) -> BaseReport {
    let base = normalize(base, ".");
    let mut report = BaseReport {
        base: base.clone(),
        ..Default::default()
    };

    let all_records: Vec<PathBuf> = list_distributions(&base)
        .map(|d| d.into_iter().filter_map(|d| d.record).collect())
        .unwrap_or_default();

    // The targets' RECORDs and package directories first: ownership is only
    // needed inside those directories and for top-level files (.pth).
    let parsed_targets: Vec<Result<Vec<RecordEntry>, String>> =
        targets.par_iter().map(|p| read_record(p)).collect();
    let tops: Vec<Vec<String>> = parsed_targets
        .iter()
        .map(|r| {
            r.as_ref()
                .map(|e| package_dirs(&base, e))
                .unwrap_or_default()
        })
        .collect();
    let wanted: std::collections::HashSet<&str> =
        tops.iter().flatten().map(|s| s.as_str()).collect();

    let parsed: Vec<Result<Vec<String>, String>> = all_records
        .par_iter()
        .map(|p| {
            read_record(p).map(|entries| {
                entries
                    .into_iter()
                    .filter_map(|e| rel_key(&base, &e.path))
                    .filter(|k| match k.split_once('/') {
                        None => true,
                        Some((top, _)) => wanted.contains(top),
                    })
                    .collect()
            })
        })
        .collect();
    let mut owned: HashMap<String, usize> = HashMap::new();
    for (i, r) in parsed.into_iter().enumerate() {
        match r {
            Ok(keys) => {
                for k in keys {
                    owned.entry(k).or_insert(i);
                }
            }
            Err(msg) => report.record_errors.push((all_records[i].clone(), msg)),
        }
    }

    report.dists = targets
        .par_iter()
        .zip(parsed_targets.into_par_iter())
        .zip(tops.into_par_iter())
        .map(|((record, entries), tops)| {
            let mut d = DistReport {
                record: record.clone(),
                ..Default::default()
            };
            let entries = match entries {
                Ok(e) => e,
                Err(msg) => {
                    d.error = Some(msg);
                    return d;
                }
            };
            d.entries = entries.len();
            let (issues, verified, bytes) = verify_entries(&base, &entries);
            d.issues = issues;
            d.verified = verified;
            d.bytes = bytes;
            d.unlisted = tops
                .par_iter()
                .flat_map_iter(|t| walk_unlisted(&base, &base.join(t), &owned))
                .collect();
            d.unlisted.sort_by(|a, b| a.path.cmp(&b.path));
            d.package_dirs = tops;
            d
        })
        .collect();

    if scan_pth {
        let mut pths: Vec<PathBuf> = fs::read_dir(&base)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".pth"))
                    .filter(|e| e.file_type().map(|t| !t.is_dir()).unwrap_or(false))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default();
        pths.sort();
        report.pth = pths
            .par_iter()
            .map(|p| scan_pth_file(p, &owned, &all_records))
            .collect();
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fl-audit-{}-{}", tag, std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn record_line(base: &Path, rel: &str) -> String {
        let bytes = fs::read(base.join(rel)).unwrap();
        format!(
            "{},sha256={},{}",
            rel,
            b64url_nopad(&Sha256::digest(&bytes)),
            bytes.len()
        )
    }

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(b64url_nopad(b""), "");
        assert_eq!(b64url_nopad(b"f"), "Zg");
        assert_eq!(b64url_nopad(b"fo"), "Zm8");
        assert_eq!(b64url_nopad(b"foo"), "Zm9v");
        assert_eq!(b64url_nopad(b"foob"), "Zm9vYg");
        assert_eq!(b64url_nopad(&[0xfb, 0xff]), "-_8");
        // sha256 of the empty string, as pip writes it in RECORD
        assert_eq!(
            b64url_nopad(&Sha256::digest(b"")),
            "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
    }

    #[test]
    fn record_parsing() {
        let text = "a/b.py,sha256=abc,12\r\n\"we,ird.py\",sha256=x==,3\nx.dist-info/RECORD,,\nbad.py,nohash,1\n\n";
        let e = parse_record(text);
        assert_eq!(e.len(), 4);
        assert_eq!(e[0].hash, Some(("sha256".into(), "abc".into())));
        assert_eq!(e[0].size, Some(12));
        assert_eq!(e[1].path, "we,ird.py");
        assert_eq!(e[1].hash.as_ref().unwrap().1, "x");
        assert_eq!(e[2].hash, None);
        assert_eq!(e[2].size, None);
        assert_eq!(e[3].bad_hash_field.as_deref(), Some("nohash"));
    }

    #[test]
    fn pth_lines() {
        let (e, p) =
            scan_pth_text("# c\n/some/dir\nimport os; os.getcwd()\n  import x\nimport\tsys\n\n");
        assert_eq!(
            e,
            vec![
                (3, "import os; os.getcwd()".to_string()),
                (5, "import\tsys".to_string())
            ]
        );
        assert_eq!(p, vec!["/some/dir".to_string(), "  import x".to_string()]);
    }

    #[test]
    fn metadata_header() {
        let (n, v) = metadata_name_version(
            "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n\nVersion: 2\n",
        );
        assert_eq!((n.as_deref(), v.as_deref()), (Some("demo"), Some("1.0")));
    }

    #[test]
    fn audit_finds_tampering() {
        let base = tmpdir("tamper");
        fs::create_dir_all(base.join("pkg/__pycache__")).unwrap();
        fs::create_dir_all(base.join("pkg-1.0.dist-info")).unwrap();
        fs::write(base.join("pkg/__init__.py"), "x = 1\n").unwrap();
        fs::write(base.join("pkg/mod.py"), "y = 2\n").unwrap();
        fs::write(base.join("pkg/gone.py"), "z = 3\n").unwrap();
        fs::write(
            base.join("pkg-1.0.dist-info/METADATA"),
            "Name: pkg\nVersion: 1.0\n\n",
        )
        .unwrap();
        fs::write(base.join("ok.pth"), "import os\n").unwrap();
        let mut rec: Vec<String> = [
            "pkg/__init__.py",
            "pkg/mod.py",
            "pkg/gone.py",
            "pkg-1.0.dist-info/METADATA",
            "ok.pth",
        ]
        .iter()
        .map(|r| record_line(&base, r))
        .collect();
        rec.push("pkg-1.0.dist-info/RECORD,,".into());
        fs::write(base.join("pkg-1.0.dist-info/RECORD"), rec.join("\n") + "\n").unwrap();
        let record = base.join("pkg-1.0.dist-info/RECORD");

        let clean = audit_base(&base, &[record.clone()], true);
        assert!(
            clean.dists[0].issues.is_empty(),
            "{:?}",
            clean.dists[0].issues
        );
        assert!(clean.dists[0].unlisted.is_empty());
        assert_eq!(clean.dists[0].verified, 5);
        assert_eq!(clean.pth[0].owner_record.as_ref(), Some(&record));

        fs::write(base.join("pkg/mod.py"), "y = 3\n").unwrap();
        fs::remove_file(base.join("pkg/gone.py")).unwrap();
        fs::write(base.join("pkg/extra.py"), "").unwrap();
        fs::write(base.join("pkg/__pycache__/mod.cpython-311.pyc"), "").unwrap();
        fs::write(base.join("pkg/__pycache__/evil.cpython-311.pyc"), "").unwrap();
        fs::write(base.join("evil.pth"), "import evil\n").unwrap();
        let r = audit_base(&base, &[record], true);
        let d = &r.dists[0];
        assert_eq!(d.issues.len(), 2);
        assert!(
            matches!(d.issues[0].problem, Problem::Modified { .. })
                && d.issues[0].path == "pkg/mod.py"
        );
        assert!(d.issues[1].problem == Problem::Missing && d.issues[1].path == "pkg/gone.py");
        let kinds: Vec<(&str, UnlistedKind)> = d
            .unlisted
            .iter()
            .map(|u| (u.path.as_str(), u.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (
                    "pkg/__pycache__/evil.cpython-311.pyc",
                    UnlistedKind::OrphanBytecode
                ),
                (
                    "pkg/__pycache__/mod.cpython-311.pyc",
                    UnlistedKind::CachedBytecode
                ),
                ("pkg/extra.py", UnlistedKind::Unlisted),
            ]
        );
        assert_eq!(r.pth.len(), 2);
        assert!(r.pth[0].path.ends_with("evil.pth") && r.pth[0].owner_record.is_none());
        let _ = fs::remove_dir_all(&base);
    }
}
