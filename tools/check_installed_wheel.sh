#!/usr/bin/env bash
# The suite from an installed diffbench, not a clone (issue 17, "Done when").
#
#   tools/check_installed_wheel.sh            # takes a few minutes: a fresh venv gets torch & co.
#   KEEP=1 tools/check_installed_wheel.sh     # leave the temporary folder for a look
#
# 1. builds the wheel from the committed tree (git archive HEAD: what a clone gets),
# 2. lists what it ships besides Python files (weights, configs, example profiles) and its
#    pytest11 entry point,
# 3. makes a fresh venv in a temporary folder outside the clone and installs the wheel, not
#    editable, with the [cpu] extra under constraints.txt (torch==2.13.0 resolves to the local
#    CPU wheel only when pinned like this),
# 4. runs `pytest --pyargs bench` there, from a folder that is neither the clone nor holds a
#    conftest.py, saving a run, then checks the saved run is there,
# 5. runs the `diffbench` console script there: --help, `run --variants fp32,bf16` and
#    `report table` over the runs saved,
# 6. runs `pytest bench/` in the clone with the project's venv.
# Any failing step stops the script with its exit status.
set -euo pipefail

CLONE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-$CLONE/.venv/bin/python}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/diffbench-wheel.XXXXXX")
# One variant, one step, one round: the point is that the suite runs, not what it measures.
SUITE=(--model tiny-sd --variants fp32 --steps 1 --rounds 1 --warmup 0 -q -p no:cacheprovider)

cleanup() {
    if [[ "${KEEP:-0}" == 1 ]]; then
        echo "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "source: $(git -C "$CLONE" rev-parse --short HEAD) (committed files), into $WORK/src"
mkdir -p "$WORK/src" "$WORK/dist" "$WORK/run"
git -C "$CLONE" archive HEAD | tar -x -C "$WORK/src"

step "build the wheel"
"$PYTHON" -m pip wheel --no-deps --no-build-isolation -q -w "$WORK/dist" "$WORK/src"
WHEEL=$(ls "$WORK"/dist/diffbench-*.whl)
echo "$(basename "$WHEEL")"

step "what the wheel ships besides Python files, and its pytest11 entry point"
"$PYTHON" - "$WHEEL" <<'EOF'
import sys
import zipfile

names = zipfile.ZipFile(sys.argv[1]).namelist()
data = [name for name in names if not name.endswith(".py") and ".dist-info/" not in name]
print("\n".join(sorted(data)))
entry_points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
text = zipfile.ZipFile(sys.argv[1]).read(entry_points).decode()
print(text.strip())
missing = [name for name in ("bench/plugin.py", "bench/test_generation.py", "bench/options/__init__.py")
           if name not in names]
assert not missing, f"the wheel lacks {missing}"
assert "[pytest11]" in text and "bench.plugin = bench.plugin" in text, "no pytest11 entry point"
EOF

BASE=$("$PYTHON" -c 'import sys; print(sys._base_executable)')
step "fresh venv outside the clone: $WORK/venv ($("$BASE" --version))"
"$BASE" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q -c "$CLONE/constraints.txt" "${WHEEL}[cpu]"
"$WORK/venv/bin/python" -m pip list 2>/dev/null | grep -E '^(diffbench|torch|diffusers|pytest|pytest-benchmark) '

step "pytest --pyargs bench from $WORK/run (outside the clone)"
cd "$WORK/run"
env -u PYTHONPATH "$WORK/venv/bin/python" -c 'import bench; print("bench imported from", bench.__file__)'
env -u PYTHONPATH "$WORK/venv/bin/pytest" --pyargs bench "${SUITE[@]}" \
    --cache-dir "$WORK/cache" --benchmark-storage "$WORK/runs" --benchmark-save=wheel
saved=$(find "$WORK/runs" -name '*_wheel.json' | head -n 1)
[[ -n "$saved" ]] || { echo "no saved run under $WORK/runs" >&2; exit 1; }
echo "saved run: ${saved#"$WORK"/}"

step "the diffbench command from the installed wheel: --help, run --variants fp32,bf16, report table"
env -u PYTHONPATH "$WORK/venv/bin/diffbench" --help
env -u PYTHONPATH "$WORK/venv/bin/diffbench" run --model tiny-sd --variants fp32,bf16 --steps 1 --rounds 1 \
    --warmup 0 -q -p no:cacheprovider --cache-dir "$WORK/cache" --benchmark-storage "$WORK/runs" \
    --benchmark-save=command
env -u PYTHONPATH "$WORK/venv/bin/diffbench" report table "$WORK/runs"

step "pytest bench/ in the clone ($CLONE)"
cd "$CLONE"
"$PYTHON" -m pytest bench/ "${SUITE[@]}" --cache-dir "$WORK/cache-clone"

step "both ran"
