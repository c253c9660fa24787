//! A server role's `CUDA_VISIBLE_DEVICES`: the plan gives each server role GPU indices on its
//! node (`cuda_visible_devices`, from the cluster profile: perfline_slurm::models); the role
//! runner maps them onto the GPUs its step sees.

/// `CUDA_VISIBLE_DEVICES` for a role's GPU `indices`, given the one its step inherited (Slurm
/// sets it to the GPUs it allocated, which need not start at 0): the role's slice of that list,
/// else the indices themselves.
pub fn visible_devices(
    indices: &[u32],
    inherited: Option<&str>,
) -> std::result::Result<String, String> {
    let wanted = || indices.iter().map(u32::to_string).collect::<Vec<_>>();
    let seen: Vec<&str> = match inherited.map(str::trim) {
        None | Some("") => return Ok(wanted().join(",")),
        Some(list) => list.split(',').map(str::trim).collect(),
    };
    indices
        .iter()
        .map(|&i| seen.get(i as usize).map(|s| s.to_string()))
        .collect::<Option<Vec<String>>>()
        .map(|list| list.join(","))
        .ok_or_else(|| {
            format!(
                "the step sees CUDA_VISIBLE_DEVICES={} ({} GPUs) but the role's GPUs are {}; set gpu_isolation: false in the cluster profile when Slurm or the engine binds GPUs itself",
                seen.join(","),
                seen.len(),
                wanted().join(",")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_devices_follow_what_the_step_sees() {
        assert_eq!(visible_devices(&[0], None).unwrap(), "0");
        assert_eq!(visible_devices(&[2, 3], Some("")).unwrap(), "2,3");
        // Slurm gave the job GPUs 4..7 of the node: the role's first two are 4 and 5.
        assert_eq!(visible_devices(&[0, 1], Some("4,5,6,7")).unwrap(), "4,5");
        assert_eq!(
            visible_devices(&[2, 3], Some("GPU-a, GPU-b,GPU-c,GPU-d")).unwrap(),
            "GPU-c,GPU-d"
        );
        assert_eq!(
            visible_devices(&[0, 1], Some("3")).unwrap_err(),
            "the step sees CUDA_VISIBLE_DEVICES=3 (1 GPUs) but the role's GPUs are 0,1; set gpu_isolation: false in the cluster profile when Slurm or the engine binds GPUs itself"
        );
    }
}
