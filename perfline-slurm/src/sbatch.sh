## One sbatch header line of a prefix (`Prefix::sbatch`), rendered by
## perfline::template::render_macro from prefix.rs: the option is one shell-quoted word.
#% macro sbatch_line(option)
#SBATCH {{ option }}
{%- endmacro %}
