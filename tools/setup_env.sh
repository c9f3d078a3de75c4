#!/usr/bin/env bash
# Create ./.venv with everything the standalone host needs; `--test` adds the test tools.
# Usage: bash tools/setup_env.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# CPU build of torch first, then hold it with the constraints file for every later install.
.venv/bin/python -c "import torch" 2>/dev/null || "${PIP[@]}" "torch==2.13.0"
req=requirements-standalone.txt
[ "${1:-}" = "--test" ] && req=requirements-test.txt
"${PIP[@]}" -c constraints.txt -r "$req"
if [ "${1:-}" = "--test" ] && ! command -v chromium >/dev/null 2>&1; then
  # Browser tests drive Debian's Chromium through Playwright (never `playwright install`: it downloads browsers).
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "note: chromium is not installed and this is not root; browser tests will be skipped" >&2
  fi
fi
"${PIP[@]}" -c constraints.txt --no-deps "stable-diffusion-sdkit==2.1.5" "open-clip-torch==3.3.0"
.venv/bin/python -c "import importlib.util, torch, ldm, transformers; assert importlib.util.find_spec('open_clip'); print('environment ready: torch', torch.__version__)"
