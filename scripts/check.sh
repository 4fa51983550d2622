#!/usr/bin/env bash
# The gates every change passes, in the order a contributor wants to hear about them:
# lint (ruff), types (mypy: app, session, measure, dicomio, main), the import contracts
# (import-linter: layers, Qt only in app, DICOM only in dicomio, no cycles), then the
# test suite with coverage (pytest-cov, failing below the figure in pyproject.toml).
# Run after `bash scripts/setup.sh --dev`; exits non-zero at the first gate that fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
echo "== ruff";          .venv/bin/ruff check .
echo "== ruff format";   .venv/bin/ruff format --check .
echo "== mypy";          .venv/bin/python -m mypy
echo "== import-linter"; .venv/bin/lint-imports
echo "== pytest (with coverage)"
.venv/bin/python -m pytest --cov --cov-report=term "$@"
