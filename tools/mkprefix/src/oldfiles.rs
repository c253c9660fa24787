//! The files of the old flow (`--write DIR`): `slurm_launch_prefix.sh` (shebang, sbatch
//! header, quoted exports) and `slurm_srun_args.txt` (one quoted srun word per line).

use perfline::cli::Result;
use perfline::{fsutil, Exit, Failure};
use perfline_slurm as slurm;
use std::path::Path;

/// The files of the old flow, for people used to them.
pub fn write_old_files(dir: &Path, prefix: &slurm::Prefix) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::new(Exit::CantCreat, format!("{}: {e}", dir.display())))?;
    let script = prefix_script(&prefix.sbatch, &prefix.exports)?;
    fsutil::write_atomic_mode(&dir.join("slurm_launch_prefix.sh"), script.as_bytes(), 0o755)?;
    let args = srun_args_text(&prefix.srun_args)?;
    fsutil::write_atomic(&dir.join("slurm_srun_args.txt"), args.as_bytes())
}

/// The old files' template (shell, rendered by perfline::template::render_script).
const TEMPLATES: &[(&str, &str)] = &[("prefix.sh", include_str!("../templates/prefix.sh"))];

/// The text of the old `slurm_launch_prefix.sh`: shebang, header and exports.
pub fn prefix_script(sbatch: &[String], exports: &[String]) -> Result<String> {
    #[derive(serde::Serialize)]
    struct View<'a> {
        sbatch: &'a [String],
        exports: Vec<slurm::Export<'a>>,
    }
    let view = View { sbatch, exports: slurm::export_pairs(exports)? };
    perfline::template::render_script(TEMPLATES, "prefix.sh", view).map_err(Failure::data)
}

/// The text of the old `slurm_srun_args.txt`: one quoted word per line.
pub fn srun_args_text(srun_args: &[String]) -> Result<String> {
    perfline::template::render_macro(TEMPLATES, "prefix.sh", "srun_args_text", srun_args)
        .map_err(Failure::data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = slurm::Prefix {
            sbatch: vec!["#SBATCH --nodes=1".into()],
            srun_args: vec!["--container-mounts=/a b:/b".into()],
            exports: vec!["PERFLINE_JOB_DIR=/j".into()],
            workdir: "/j".into(),
        };
        write_old_files(dir.path(), &prefix).unwrap();
        let script = std::fs::read_to_string(dir.path().join("slurm_launch_prefix.sh")).unwrap();
        assert_eq!(script, "#!/bin/bash\n#SBATCH --nodes=1\nexport PERFLINE_JOB_DIR=/j\n");
        let args = std::fs::read_to_string(dir.path().join("slurm_srun_args.txt")).unwrap();
        assert_eq!(args, "'--container-mounts=/a b:/b'\n");
    }

    #[test]
    fn values_are_quoted_by_the_template() {
        let exports = ["A=x y".into(), "B=$(id)\nz".into(), "C=".into()];
        let script = prefix_script(&["#SBATCH --nodes=1".into()], &exports).unwrap();
        assert_eq!(
            script,
            "#!/bin/bash\n#SBATCH --nodes=1\nexport A='x y'\nexport B='$(id)\nz'\nexport C=''\n"
        );
        assert_eq!(srun_args_text(&["a b".into(), "c".into()]).unwrap(), "'a b'\nc\n");
        assert_eq!(srun_args_text(&[]).unwrap(), "");
    }
}
