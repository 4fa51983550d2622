"""Start-up: what importing the app's modules pulls in (issue 15: lazy imports, no requests)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import PROJECT_ROOT


def _modules_after(statement: str, *names: str) -> dict[str, bool]:
    code = f"import sys; {statement}; print(','.join(str(n in sys.modules) for n in {names!r}))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True
    ).stdout
    return dict(zip(names, (v == "True" for v in out.strip().split(",")), strict=True))


def test_the_window_modules_do_not_import_requests() -> None:
    found = _modules_after("import app.main_window", "requests", "pydicom")
    assert found == {"requests": False, "pydicom": True}


def test_the_reformat_and_display_stack_do_not_import_scipy_or_simpleitk() -> None:
    found = _modules_after("import dicomio.display_stack", "scipy.ndimage", "SimpleITK", "pydicom")
    assert found == {"scipy.ndimage": False, "SimpleITK": False, "pydicom": True}


def test_pydicom_imported_without_requests_reads_files_and_requests_still_imports() -> None:
    code = (
        "import dicomio.scan, pydicom, requests; from pydicom.data import get_testdata_file; "
        "ds = pydicom.dcmread(get_testdata_file('CT_small.dcm')); print(ds.Rows, requests.__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True
    ).stdout
    assert out.split() == ["128", "requests"]


def test_finding_a_ct_midline_does_not_import_scipy_ndimage() -> None:
    """A CT opens on its midline, found before the first paint: without the 0.2-0.5 s import."""
    found = _modules_after(
        "from tests.measure.test_spine_view import PHANTOM, _phantom_sagittal; "
        "from measure.spine_view import locate_spine; "
        "g = _phantom_sagittal(21, 6, 2.0); "
        "v = locate_spine(PHANTOM.render(g, 'CT', 'pre'), g, 'CT'); "
        "assert v.confident and v.slice_index == 6, v.reason",
        "scipy.ndimage",
    )
    assert found == {"scipy.ndimage": False}
