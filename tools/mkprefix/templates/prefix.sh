#!/bin/bash
## The old `slurm_launch_prefix.sh` (reference/incumbent.md §7.2): shebang, sbatch header and
## exports; rendered by perfline::template::render_script from src/oldfiles.rs. Every
## {{ value }} prints as one shell-quoted word; `#%` lines are template statements, `##` lines
## template comments (neither reaches the output).
##
## The old `slurm_srun_args.txt`: one quoted word per line.
#% macro srun_args_text(srun_args)
#% for a in srun_args
{{ a }}
#% endfor
#% endmacro
#% for line in sbatch
{{ line|comment }}
#% endfor
#% for e in exports
export {{ e.name }}={{ e.value }}
#% endfor
