#!/usr/bin/env bash
# Set up Endplate on a fresh Debian 12 (or similar) machine with Python 3.11+.
#   bash scripts/setup.sh          runtime: system libraries for Qt, a .venv with Endplate
#   bash scripts/setup.sh --dev    also the test tools (pytest, pytest-qt, dcmtk's dsrdump, ...)
# Idempotent: a second run only checks. Uses sudo for apt-get when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

# Qt's runtime libraries (offscreen and xcb platforms) and fonts; dcmtk for dsrdump in tests,
# Orthanc and its DICOMweb plugin for the PACS tests (started by the tests, never as a service).
APT_PACKAGES="libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libfreetype6 libdbus-1-3 \
libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 \
libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libglib2.0-0 fonts-dejavu-core"
[ "$DEV" = 1 ] && APT_PACKAGES="$APT_PACKAGES dcmtk poppler-utils orthanc orthanc-dicomweb"

missing=""
for p in $APT_PACKAGES; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
# Debian's python3 ships the venv module but not ensurepip, which creating a venv needs.
if ! python3 -c "import ensurepip" >/dev/null 2>&1; then missing="$missing python3-venv"; fi
if [ -n "$missing" ] && command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "setup: installing system packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# Reinstall only when pyproject.toml (or the --dev choice) changed since the last run, so that
# a second run only checks and needs no network.
STAMP=.venv/.endplate-setup
WANT="$(sha256sum pyproject.toml | cut -d' ' -f1) dev=$DEV"
HAVE=""
[ -f "$STAMP" ] && HAVE="$(cat "$STAMP")"
if [ "$HAVE" != "$WANT" ] && ! { [ "$DEV" = 0 ] && [ "$HAVE" = "${WANT% dev=0} dev=1" ]; }; then
  .venv/bin/python -m pip install -q --upgrade pip
  if [ "$DEV" = 1 ]; then
    .venv/bin/python -m pip install -q -e ".[dev]"
  else
    .venv/bin/python -m pip install -q -e .
  fi
  echo "$WANT" > "$STAMP"
fi
echo "setup: done (.venv ready)"
