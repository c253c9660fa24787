//! The options `mkprefix` and `launch` share.

use crate::{
    bin_dir, job_root, Container, Options, Profile, CLUSTER_ENV, IMAGE_ENV, MODELS_ROOT_ENV,
};
use perfline::cli::{Failure, Result};
use std::path::PathBuf;

/// The options `mkprefix` and `launch` share (each flattens them into its arguments).
#[derive(clap::Args, Debug, Clone)]
pub struct PrefixArgs {
    /// Planned records (JSON Lines); `-` or absent: stdin.
    pub input: Option<PathBuf>,
    /// Cluster profile: a name (ci/clusters/NAME.yaml) or a YAML file.
    #[arg(long, env = CLUSTER_ENV)]
    pub cluster: Option<String>,
    /// Root of the job directories (overrides the profile's job_root; default ./perfline-jobs).
    #[arg(long, value_name = "DIR")]
    pub job_root: Option<PathBuf>,
    /// Pin jobs to these nodes, comma-separated (`--nodelist`); fewer than the plan is an error.
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub nodes: Vec<String>,
}

impl PrefixArgs {
    /// The chosen profile (after `adjust`, with its binary directory resolved) and the job
    /// options: resolved once, since they are the same for every record.
    pub fn resolve(
        &self,
        adjust: impl FnOnce(&mut Profile) -> Result<()>,
    ) -> Result<(Profile, Options)> {
        let mut profile = Profile::select(self.cluster.as_deref())?;
        if let Some(image) = std::env::var(IMAGE_ENV).ok().filter(|i| !i.is_empty()) {
            // The CI's image parameter (e.g. Jenkins' DOCKER_IMAGE), by environment.
            profile.container.get_or_insert_with(Container::default).image = image;
            profile.check().map_err(|m| Failure::usage(format!("{IMAGE_ENV}: {m}")))?;
        }
        if let Some(root) = std::env::var(MODELS_ROOT_ENV).ok().filter(|r| !r.is_empty()) {
            // The incumbent's variable: where the models are on the nodes.
            profile.models_root = Some(root);
            profile.check().map_err(|m| Failure::usage(format!("{MODELS_ROOT_ENV}: {m}")))?;
        }
        adjust(&mut profile)?;
        profile.bin_dir = Some(bin_dir(&profile));
        let root =
            job_root(&profile, &Options { job_root: self.job_root.clone(), ..Options::default() })?;
        let opts = Options { job_root: Some(root), nodelist: self.nodes.clone(), attempt: None };
        Ok((profile, opts))
    }
}
