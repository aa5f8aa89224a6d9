#!/usr/bin/env bash
# Installs Viewbox and everything its tests use on a fresh Debian/Ubuntu machine (run as root or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# dcmtk + orthanc: real DICOM peers for the interoperability tests; chromium: UI tests; postgresql: database tests.
$SUDO apt-get install -y -qq --no-install-recommends dcmtk orthanc orthanc-dicomweb chromium postgresql iproute2 util-linux >/dev/null
python3 -m pip install -q --disable-pip-version-check -e '.[test]'
