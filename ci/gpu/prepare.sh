#!/usr/bin/env bash
# Prepares the GPU acceptance run (run.sh) on a machine with cargo and PyPI access: builds
# perfline's tools in release mode, strips them into .gpu/bin, and fetches the Python wheels
# that `transformers serve` needs and the GPU machine lacks into .whl (both git-ignored; name
# them in the device call's carry). Usage, from the repository root: bash ci/gpu/prepare.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
TOOLS=(classify nodecount launch role simserve bench parse-metrics to-csv upload perf-check report)
args=()
for t in "${TOOLS[@]}"; do args+=(-p "$t"); done
cargo build --release --quiet "${args[@]}"
rm -rf .gpu && mkdir -p .gpu/bin
for t in "${TOOLS[@]}"; do strip -o ".gpu/bin/$t" "target/release/$t"; done
git rev-parse HEAD > .gpu/commit
# Wheels for `transformers serve` (transformers 5.x is on the GPU machine; its server extras
# are not), for CPython 3.12 on x86-64 Linux.
WHEELS=(fastapi==0.115.14 starlette==0.46.2 pydantic==2.11.10 pydantic-core==2.33.2
  annotated-types==0.7.0 typing-inspection==0.4.2 uvicorn==0.35.0 openai==1.109.1 distro==1.9.0
  jiter==0.11.1 sniffio==1.3.1)
mkdir -p .whl
for w in "${WHEELS[@]}"; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl "$w"
done
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo /.gpu/ >> .git/info/exclude
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
du -sh .gpu .whl
echo "ready: run 'bash ci/gpu/run.sh' on the GPU machine with .gpu and .whl carried"
