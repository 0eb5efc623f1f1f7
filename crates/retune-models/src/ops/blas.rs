//! A system BLAS for the CPU matrix products, loaded at run time: single-threaded OpenBLAS
//! (Debian's `libopenblas0-serial`) runs `sgemm` at several times the speed of the pure-Rust
//! `gemm` crate on the 2-core Xeons retune is measured on (`examples/blas_vs_gemm.rs`); the
//! products stay split across the rayon pool by [`super::matmul`], one single-threaded BLAS call
//! per block, so nothing oversubscribes the cores. Without the library (or with `RETUNE_BLAS=off`,
//! or `RETUNE_UNFUSED=blas`) every product runs in `gemm` as before: nothing needs it to build.
//!
//! Which library: `RETUNE_BLAS=/path/libopenblas.so.0` if set, else Debian's serial OpenBLAS,
//! else `libopenblas.so.0` when it reports a single-threaded build. OpenBLAS 0.3.21 does not
//! recognise recent Xeons and falls back to its slowest kernels, so unless `OPENBLAS_CORETYPE` is
//! set it is set from the CPU's features (`SkylakeX` with AVX-512, `Haswell` with AVX2 + FMA)
//! before the library loads.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

use super::Mat;

type Sgemm = unsafe extern "C" fn(
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    c_int,
    f32,
    *const f32,
    c_int,
    *const f32,
    c_int,
    f32,
    *mut f32,
    c_int,
);

struct Blas {
    sgemm: Sgemm,
    name: String,
}

// SAFETY: the function pointer is a plain C entry point of a reentrant (single-threaded) library.
unsafe impl Send for Blas {}
unsafe impl Sync for Blas {}

#[cfg(target_os = "linux")]
extern "C" {
    fn dlopen(filename: *const c_char, flag: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

const RTLD_NOW: c_int = 2;
const ROW_MAJOR: c_int = 101;
const NO_TRANS: c_int = 111;
const TRANS: c_int = 112;

#[cfg(target_os = "linux")]
fn open(path: &str, require_serial: bool) -> Option<Blas> {
    let c = std::ffi::CString::new(path).ok()?;
    // SAFETY: dlopen/dlsym with valid NUL-terminated strings; the handle is never closed, so
    // the symbols stay valid for the life of the process.
    unsafe {
        let h = dlopen(c.as_ptr(), RTLD_NOW);
        if h.is_null() {
            return None;
        }
        let sym = dlsym(h, c"cblas_sgemm".as_ptr());
        if sym.is_null() {
            return None;
        }
        let config = dlsym(h, c"openblas_get_config".as_ptr());
        let name = if config.is_null() {
            path.to_string()
        } else {
            let f: unsafe extern "C" fn() -> *const c_char = std::mem::transmute(config);
            CStr::from_ptr(f()).to_string_lossy().into_owned()
        };
        if require_serial && !name.contains("SINGLE_THREADED") {
            return None;
        }
        let set_threads = dlsym(h, c"openblas_set_num_threads".as_ptr());
        if !set_threads.is_null() {
            let f: unsafe extern "C" fn(c_int) = std::mem::transmute(set_threads);
            f(1);
        }
        Some(Blas {
            sgemm: std::mem::transmute::<*mut c_void, Sgemm>(sym),
            name,
        })
    }
}

#[cfg(not(target_os = "linux"))]
fn open(_path: &str, _require_serial: bool) -> Option<Blas> {
    None
}

fn set_coretype() {
    if std::env::var_os("OPENBLAS_CORETYPE").is_some() {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let core = if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512vl")
        {
            Some("SkylakeX")
        } else if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            Some("Haswell")
        } else {
            None
        };
        if let Some(c) = core {
            std::env::set_var("OPENBLAS_CORETYPE", c);
        }
    }
}

fn blas() -> Option<&'static Blas> {
    static B: OnceLock<Option<Blas>> = OnceLock::new();
    B.get_or_init(|| {
        let var = std::env::var("RETUNE_BLAS").unwrap_or_default();
        if var == "off" || super::unfused("blas") {
            return None;
        }
        set_coretype();
        if !var.is_empty() {
            return open(&var, false);
        }
        open("/usr/lib/x86_64-linux-gnu/openblas-serial/libopenblas.so.0", true)
            .or_else(|| open("libopenblas.so.0", true))
    })
    .as_ref()
}

/// What runs the CPU matrix products: the BLAS's own description, or `gemm crate`.
pub fn describe() -> String {
    match blas() {
        Some(b) => b.name.trim().to_string(),
        None => "gemm crate (no system BLAS loaded)".into(),
    }
}

/// (transpose flag, leading dimension) of an `r × c` operand with strides `m`, when a row-major
/// BLAS can read it.
fn operand(m: &Mat, r: usize, c: usize) -> Option<(c_int, usize)> {
    if m.cs == 1 && (m.rs >= c || r <= 1) {
        Some((NO_TRANS, if r <= 1 { c.max(1) } else { m.rs }))
    } else if m.rs == 1 && (m.cs >= r || c <= 1) {
        Some((TRANS, if c <= 1 { r.max(1) } else { m.cs }))
    } else {
        None
    }
}

/// `dst (m×n, row stride dst_rs) = [dst +] scale · a · b` by the system BLAS; false (nothing
/// written) when none is loaded or a layout or size is outside what CBLAS takes.
///
/// # Safety
/// As [`super::matmul`]: every addressed element inside its allocation, `dst` not overlapping
/// the operands.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    a: &Mat,
    b: &Mat,
    accumulate: bool,
    scale: f32,
) -> bool {
    let Some(blas) = blas() else {
        return false;
    };
    if m == 0 || n == 0 {
        return true;
    }
    let (Some((ta, lda)), Some((tb, ldb))) = (operand(a, m, k), operand(b, k, n)) else {
        return false;
    };
    let ldc = if m <= 1 { n.max(1) } else { dst_rs };
    let fits = [m, n, k, lda, ldb, ldc].iter().all(|&v| v <= c_int::MAX as usize);
    if !fits || ldc < n {
        return false;
    }
    let beta = if accumulate { 1.0 } else { 0.0 };
    // SAFETY: the layouts were checked to be ones CBLAS reads; the caller guarantees bounds.
    unsafe {
        (blas.sgemm)(
            ROW_MAJOR,
            ta,
            tb,
            m as c_int,
            n as c_int,
            k as c_int,
            scale,
            a.ptr,
            lda as c_int,
            b.ptr,
            ldb as c_int,
            beta,
            dst,
            ldc as c_int,
        )
    };
    true
}
