//! Reading Python values for the fused pre-call checks without running Python code:
//! exact types only, values borrowed from dicts nothing mutates meanwhile.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use pyo3::Borrowed;

pub(super) fn is_exact<T: pyo3::PyTypeInfo>(o: &Bound<'_, PyAny>) -> bool {
    o.get_type().is(&o.py().get_type::<T>())
}


/// None, or an exact int that fits i64 (anything else: not covered).
pub(super) fn opt_i64_b(o: &Borrowed<'_, '_, PyAny>) -> Option<Option<i64>> {
    if o.is_none() {
        return Some(None);
    }
    if !is_exact::<pyo3::types::PyInt>(o) {
        return None;
    }
    o.extract::<i64>().ok().map(Some)
}

extern "C" {
    // In the stable ABI from 3.10, exported by every CPython 3: the str's own
    // UTF-8 buffer (cached in the object; for ASCII, its data), no copy.
    #[link_name = "PyUnicode_AsUTF8AndSize"]
    fn unicode_as_utf8(o: *mut pyo3::ffi::PyObject, size: *mut pyo3::ffi::Py_ssize_t) -> *const std::os::raw::c_char;
}

/// `d[k]` as a borrowed reference (no refcount traffic), None if absent or on error
/// (cleared). Only for dicts no Python code runs on while the reference is used.
#[inline]
pub(super) fn dget<'a, 'py>(py: Python<'py>, d: &'a Bound<'py, PyDict>, k: &Bound<'py, PyString>) -> Option<Borrowed<'a, 'py, PyAny>> {
    // SAFETY: valid dict and key; the value is borrowed from `d`, which outlives 'a
    // and is not mutated while it is used (no Python code runs in between).
    unsafe {
        let p = pyo3::ffi::PyDict_GetItemWithError(d.as_ptr(), k.as_ptr());
        if p.is_null() {
            if !pyo3::ffi::PyErr_Occurred().is_null() {
                let _ = PyErr::take(py);
            }
            return None;
        }
        Some(Borrowed::from_ptr(py, p))
    }
}

/// Load each value's type pointer (no effect on values): issued back to back, the
/// loads of cold objects overlap, so the checks that follow find them cached.
#[inline]
pub(super) fn touch(vals: &[Option<Borrowed<'_, '_, PyAny>>]) {
    let mut acc = 0usize;
    for v in vals.iter().flatten() {
        // SAFETY: a valid object pointer; reading its type pointer has no effect.
        acc ^= unsafe { (*v.as_ptr()).ob_type as usize };
    }
    std::hint::black_box(acc);
}

/// The UTF-8 text of the str object `o` (None: not encodable).
///
/// SAFETY: `o` is an exact `str` that the caller keeps alive for `'a` (its UTF-8
/// buffer is cached in the object and lives as long as it).
#[inline]
pub(super) unsafe fn exact_str_text<'a>(py: Python<'_>, o: *mut pyo3::ffi::PyObject) -> Option<&'a str> {
    let mut n: pyo3::ffi::Py_ssize_t = 0;
    let p = unicode_as_utf8(o, &mut n);
    if p.is_null() {
        let _ = PyErr::take(py);
        return None;
    }
    Some(std::str::from_utf8_unchecked(std::slice::from_raw_parts(p as *const u8, n as usize)))
}

/// The text of an exact `str` held by the caller (None: not a str, or not encodable).
#[inline]
pub(super) fn str_bound<'a>(o: &'a Bound<'_, PyAny>) -> Option<&'a str> {
    if !is_exact::<PyString>(o) {
        return None;
    }
    // SAFETY: `o` is an exact str, held for 'a.
    unsafe { exact_str_text(o.py(), o.as_ptr()) }
}

/// Truthiness of an exact None/bool/int/str/dict/list (no Python code runs);
/// None (not covered) for any other type.
#[inline]
pub(super) fn truthy_plain(o: &Bound<'_, PyAny>) -> Option<bool> {
    if o.is_none() {
        return Some(false);
    }
    if is_exact::<pyo3::types::PyBool>(o)
        || is_exact::<pyo3::types::PyInt>(o)
        || is_exact::<PyString>(o)
        || is_exact::<PyDict>(o)
        || is_exact::<PyList>(o)
    {
        return o.is_truthy().ok();
    }
    None
}

/// The text of an exact `str` (None: not a str, or not encodable).
#[inline]
pub(super) fn str_of<'a>(o: &Borrowed<'a, '_, PyAny>) -> Option<&'a str> {
    if !is_exact::<PyString>(o) {
        return None;
    }
    // SAFETY: `o` is an exact str, borrowed for 'a.
    unsafe { exact_str_text(o.py(), o.as_ptr()) }
}

/// None, or an exact str.
#[inline]
pub(super) fn opt_str_b<'a>(o: &Borrowed<'a, '_, PyAny>) -> Option<Option<&'a str>> {
    if o.is_none() {
        Some(None)
    } else {
        str_of(o).map(Some)
    }
}

/// Falsy for None or an empty exact dict; None (not covered) for other types.
#[inline]
pub(super) fn falsy_none_or_dict(o: &Borrowed<'_, '_, PyAny>) -> Option<bool> {
    if o.is_none() {
        return Some(true);
    }
    if !is_exact::<PyDict>(o) {
        return None;
    }
    o.downcast::<PyDict>().ok().map(|d| d.is_empty())
}
