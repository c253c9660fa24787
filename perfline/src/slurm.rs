//! Cluster profiles and the Slurm prefix (sbatch header, srun arguments), shared by
//! `mkprefix` and `launch` (skeleton: being built).
