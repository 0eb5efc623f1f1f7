//! Shared model and device flags of every command that runs a model, by `#[command(flatten)]`,
//! and their one conversion into a model folder and a device.

use clap::Args;
use retune_models::{device, hub, Device};
use std::path::PathBuf;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Where a model runs.
#[derive(Args, Clone, Debug)]
pub struct DeviceArgs {
    /// Compute device: cpu, cuda or cuda:N (CUDA needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl DeviceArgs {
    /// The selected device.
    pub fn device(&self) -> Result<Device> {
        Ok(device::select(&self.device)?)
    }
}

/// The model to run and where.
#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Model folder or hub id (`org/name[@revision]`).
    #[arg(long)]
    pub model: String,
    /// Device flags.
    #[command(flatten)]
    pub device: DeviceArgs,
}

impl ModelArgs {
    /// The model folder (downloaded into the hub cache when `--model` is a hub id) and the device.
    pub fn resolve(&self) -> Result<(PathBuf, Device)> {
        let device = self.device.device()?;
        Ok((hub::resolve(&self.model)?, device))
    }
}
