//! Bindings for the audit component (`fast-litellm audit`): conversion to
//! plain Python dicts/lists and GIL release around the file work.

use fast_litellm_core::audit::{self as core, Problem, UnlistedKind};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::{Path, PathBuf};

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// `(dist_info, name, version, record)`.
type DistRow = (String, Option<String>, Option<String>, Option<String>);

/// Every ``*.dist-info`` in ``base``: ``[(dist_info, name, version, record), ...]``.
#[pyfunction]
fn audit_list_distributions(py: Python<'_>, base: String) -> PyResult<Vec<DistRow>> {
    let found = py
        .allow_threads(|| core::list_distributions(Path::new(&base)))
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("{base}: {e}")))?;
    Ok(found
        .into_iter()
        .map(|d| {
            (
                path_str(&d.dist_info),
                d.name,
                d.version,
                d.record.as_deref().map(path_str),
            )
        })
        .collect())
}

fn problem_dict<'py>(py: Python<'py>, issue: &core::FileIssue) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("path", &issue.path)?;
    match &issue.problem {
        Problem::Missing => d.set_item("problem", "missing")?,
        Problem::Modified {
            algorithm,
            expected,
            actual,
            expected_size,
            actual_size,
        } => {
            d.set_item("problem", "modified")?;
            d.set_item("algorithm", algorithm)?;
            d.set_item("expected", expected)?;
            d.set_item("actual", actual)?;
            d.set_item("expected_size", expected_size)?;
            d.set_item("actual_size", actual_size)?;
        }
        Problem::SizeMismatch { expected, actual } => {
            d.set_item("problem", "size_mismatch")?;
            d.set_item("expected_size", expected)?;
            d.set_item("actual_size", actual)?;
        }
        Problem::UnsupportedAlgorithm(a) => {
            d.set_item("problem", "unsupported_algorithm")?;
            d.set_item("algorithm", a)?;
        }
        Problem::BadHashField(f) => {
            d.set_item("problem", "bad_hash_field")?;
            d.set_item("detail", f)?;
        }
        Problem::NoHash => d.set_item("problem", "no_hash")?,
        Problem::Unreadable(msg) => {
            d.set_item("problem", "unreadable")?;
            d.set_item("detail", msg)?;
        }
    }
    Ok(d)
}

/// Verify the distributions whose RECORD paths are ``targets`` (inside
/// ``base``) and, with ``scan_pth``, scan ``base``'s ``.pth`` files.
/// Returns ``{"base", "dists": [...], "pth": [...], "record_errors": [...]}``.
#[pyfunction]
#[pyo3(signature = (base, targets, scan_pth=true))]
fn audit_base<'py>(
    py: Python<'py>,
    base: String,
    targets: Vec<String>,
    scan_pth: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let targets: Vec<PathBuf> = targets.into_iter().map(PathBuf::from).collect();
    let report = py.allow_threads(|| core::audit_base(Path::new(&base), &targets, scan_pth));

    let out = PyDict::new(py);
    out.set_item("base", path_str(&report.base))?;
    let dists = PyList::empty(py);
    for d in &report.dists {
        let item = PyDict::new(py);
        item.set_item("record", path_str(&d.record))?;
        item.set_item("entries", d.entries)?;
        item.set_item("verified", d.verified)?;
        item.set_item("bytes", d.bytes)?;
        item.set_item("error", &d.error)?;
        item.set_item("package_dirs", &d.package_dirs)?;
        let issues = PyList::empty(py);
        for i in &d.issues {
            issues.append(problem_dict(py, i)?)?;
        }
        item.set_item("issues", issues)?;
        let unlisted = PyList::empty(py);
        for u in &d.unlisted {
            let kind = match u.kind {
                UnlistedKind::CachedBytecode => "cached_bytecode",
                UnlistedKind::OrphanBytecode => "orphan_bytecode",
                UnlistedKind::Unlisted => "unlisted",
            };
            unlisted.append((u.path.as_str(), kind))?;
        }
        item.set_item("unlisted", unlisted)?;
        dists.append(item)?;
    }
    out.set_item("dists", dists)?;
    let pths = PyList::empty(py);
    for p in &report.pth {
        let item = PyDict::new(py);
        item.set_item("path", path_str(&p.path))?;
        item.set_item("sha256", &p.sha256)?;
        item.set_item("size", p.size)?;
        item.set_item("owner_record", p.owner_record.as_deref().map(path_str))?;
        item.set_item("exec_lines", &p.exec_lines)?;
        item.set_item("path_lines", &p.path_lines)?;
        item.set_item("error", &p.error)?;
        pths.append(item)?;
    }
    out.set_item("pth", pths)?;
    let errors: Vec<(String, String)> = report
        .record_errors
        .iter()
        .map(|(p, e)| (path_str(p), e.clone()))
        .collect();
    out.set_item("record_errors", errors)?;
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(audit_list_distributions, m)?)?;
    m.add_function(wrap_pyfunction!(audit_base, m)?)?;
    Ok(())
}
