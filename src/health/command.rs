//! `command`: run a shell command in the runbook's directory; exit status 0
//! is healthy. The last line of its output is kept as the observation.
//!
//! ```yaml
//! smoke: { command: "./scripts/smoke.sh", timeout: 30s }
//! ```

use std::path::Path;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Command {
    pub run: String,
    pub timeout: Duration,
}

impl Command {
    pub async fn run(&self, workdir: &Path) -> (bool, String) {
        let child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&self.run)
            .current_dir(workdir)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output();
        match tokio::time::timeout(self.timeout, child).await {
            Ok(Ok(out)) => {
                let text = String::from_utf8_lossy(if out.stdout.is_empty() { &out.stderr } else { &out.stdout }).into_owned();
                let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
                let status = out.status.code().map_or_else(|| "killed by a signal".to_string(), |c| format!("exit {c}"));
                (out.status.success(), if last.is_empty() { status } else { format!("{status}: {last}") })
            }
            Ok(Err(e)) => (false, format!("cannot run `{}`: {e}", self.run)),
            Err(_) => (false, format!("`{}` timed out after {}s", self.run, self.timeout.as_secs())),
        }
    }
}
