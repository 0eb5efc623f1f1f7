//! Helpers shared by the command-line tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// Renders `html` in headless Chromium (installed by scripts/setup.sh): returns the DOM after
/// layout, and checks that a screenshot written to `shot` is a PNG that is not blank.
pub fn render_in_chromium(html: &Path, shot: &Path) -> String {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("headless Chromium is missing: run scripts/setup.sh");
    let url = format!("file://{}", html.display());
    let common = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"];
    let dom = Command::new(chromium)
        .args(common)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    let o = Command::new(chromium)
        .args(common)
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1000,1600")
        .arg(&url)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let png = std::fs::read(shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 20_000, "screenshot of {} bytes looks blank", png.len());
    String::from_utf8_lossy(&dom.stdout).into_owned()
}
