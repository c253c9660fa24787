//! System info for the `runs` row, gathered where possible: `nvidia-smi` when present,
//! `/etc/os-release`, the host name. Anything missing stays empty; flags override all.

use crate::batch::RunInfo;
use std::path::Path;
use std::time::Duration;

/// nvidia-smi can hang on a sick GPU: never wait longer than this for it.
const NVIDIA_SMI_DEADLINE: Duration = Duration::from_secs(10);

/// Fills the empty system fields of `run` from this host.
pub fn gather(run: &mut RunInfo) {
    if run.driver.is_none() || run.gpu.is_none() {
        if let Some(out) =
            run_bounded("nvidia-smi", &["--query-gpu=driver_version,name", "--format=csv,noheader"])
        {
            if let Some((driver, gpu)) = parse_gpu_query(&out) {
                run.driver.get_or_insert(driver);
                run.gpu.get_or_insert(gpu);
            }
        }
    }
    if run.cuda.is_none() {
        run.cuda = run_bounded("nvidia-smi", &[]).and_then(|out| parse_cuda_version(&out));
    }
    if run.os.is_none() {
        run.os = std::fs::read_to_string("/etc/os-release").ok().and_then(|t| parse_os_release(&t));
    }
    if run.hostname.is_none() {
        run.hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty());
    }
}

/// Runs a program and returns its stdout when it exits 0 within the deadline.
fn run_bounded(program: &str, args: &[&str]) -> Option<String> {
    perfline::bounded::output_within(Path::new(program), args, NVIDIA_SMI_DEADLINE).ok()
}

/// `575.57.08, NVIDIA H100 80GB HBM3` (first GPU) → (driver, gpu).
pub fn parse_gpu_query(out: &str) -> Option<(String, String)> {
    let (driver, gpu) = out.lines().next()?.split_once(',')?;
    Some((driver.trim().to_string(), gpu.trim().to_string()))
}

/// The `CUDA Version: 12.9` of nvidia-smi's banner.
pub fn parse_cuda_version(out: &str) -> Option<String> {
    let rest = &out[out.find("CUDA Version:")? + "CUDA Version:".len()..];
    rest.split_whitespace().next().map(|v| v.trim_end_matches('|').to_string())
}

/// `PRETTY_NAME` of os-release, unquoted.
pub fn parse_os_release(text: &str) -> Option<String> {
    let value = text.lines().find_map(|l| l.strip_prefix("PRETTY_NAME="))?;
    Some(value.trim().trim_matches('"').to_string()).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nvidia_smi_and_os_release() {
        assert_eq!(
            parse_gpu_query("575.57.08, NVIDIA H100 80GB HBM3\n575.57.08, NVIDIA H100 80GB HBM3\n"),
            Some(("575.57.08".into(), "NVIDIA H100 80GB HBM3".into()))
        );
        assert_eq!(parse_gpu_query(""), None);
        let banner =
            "| NVIDIA-SMI 575.57.08   Driver Version: 575.57.08   CUDA Version: 12.9     |";
        assert_eq!(parse_cuda_version(banner), Some("12.9".into()));
        assert_eq!(parse_cuda_version("no gpu"), None);
        let os = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(parse_os_release(os), Some("Debian GNU/Linux 12 (bookworm)".into()));
        assert_eq!(parse_os_release("NAME=x"), None);
    }

    #[test]
    fn gather_keeps_given_fields() {
        let mut run = RunInfo { hostname: Some("given".into()), ..RunInfo::default() };
        gather(&mut run);
        assert_eq!(run.hostname.as_deref(), Some("given"));
    }
}
