#!/usr/bin/env bash
# Installs Viewbox and everything its tests use on a fresh Debian/Ubuntu machine (run as root or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# dcmtk + orthanc: real DICOM peers for the interoperability tests; chromium: UI tests; postgresql: database tests.
$SUDO apt-get install -y -qq --no-install-recommends dcmtk orthanc orthanc-dicomweb chromium postgresql \
  iproute2 util-linux >/dev/null
# Node: Prettier checks web/static and axe-core checks the UI's accessibility (tools/web, pinned by its lock file).
command -v npm >/dev/null || $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
npm ci --prefix tools/web --no-audit --no-fund --loglevel=error
if python3 -m pip install -q --disable-pip-version-check -e '.[test]' 2>/tmp/viewbox-pip.err; then
  exit 0
fi
if grep -q externally-managed /tmp/viewbox-pip.err; then
  # A distribution's own Python (PEP 668): install into a virtual environment beside the project.
  $SUDO apt-get install -y -qq --no-install-recommends python3-venv python3-pip >/dev/null
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
  $SUDO ln -sf "$PWD/.venv/bin/viewbox" /usr/local/bin/viewbox
  echo "Viewbox installed in $PWD/.venv (viewbox linked into /usr/local/bin)."
  exit 0
fi
cat /tmp/viewbox-pip.err >&2
exit 1
