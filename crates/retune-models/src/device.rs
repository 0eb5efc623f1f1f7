//! The one place a compute device is chosen: `--device cpu | cuda | cuda:N`. CUDA needs the
//! cargo feature `cuda`; without it, asking for CUDA is one clear error.

use crate::error::{ModelError, Result};
use candle_core::Device;

/// The device named by `spec` (`cpu`, `cuda` = `cuda:0`, `cuda:N`).
pub fn select(spec: &str) -> Result<Device> {
    let bad = |message: String| ModelError::Device {
        spec: spec.to_string(),
        message,
    };
    match spec.trim() {
        "cpu" => Ok(Device::Cpu),
        s if s == "cuda" || s.starts_with("cuda:") => {
            let ordinal = match s.strip_prefix("cuda:") {
                None => 0,
                Some(n) => n
                    .parse::<usize>()
                    .map_err(|_| bad(format!("'{n}' is not a GPU number (use cuda or cuda:N)")))?,
            };
            cuda(ordinal).map_err(bad)
        }
        other => Err(bad(format!("unknown device '{other}' (use cpu, cuda or cuda:N)"))),
    }
}

#[cfg(feature = "cuda")]
fn cuda(ordinal: usize) -> std::result::Result<Device, String> {
    Device::new_cuda(ordinal).map_err(|e| format!("CUDA device {ordinal} is not available: {e}"))
}

#[cfg(not(feature = "cuda"))]
fn cuda(_ordinal: usize) -> std::result::Result<Device, String> {
    Err("this retune was built without CUDA support (rebuild with `--features cuda`)".into())
}

/// The host (CPU), where tensors are copied to be read.
pub fn host() -> Device {
    Device::Cpu
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_bad_specs() {
        assert!(select("cpu").unwrap().is_cpu());
        let e = select("tpu").unwrap_err().to_string();
        assert!(e.contains("--device tpu") && e.contains("cpu, cuda or cuda:N"), "{e}");
        let e = select("cuda:x").unwrap_err().to_string();
        assert!(e.contains("not a GPU number"), "{e}");
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_the_feature_is_one_clear_error() {
        let e = select("cuda:1").unwrap_err().to_string();
        assert!(e.contains("--device cuda:1") && e.contains("--features cuda"), "{e}");
    }
}
