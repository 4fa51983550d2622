"""Terminal control characters from DICOM strings and file names are printed, never obeyed."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np

from dicomio.printable import PrintableStream, printable
from dicomio.synthetic.synth import SeriesSpec, sagittal_geometry, write_series
from tests.conftest import PROJECT_ROOT

HOSTILE = "SAG\x1b[2J\x1b]0;pwned\x07 T2"


def test_printable_escapes_every_control_character() -> None:
    assert printable(HOSTILE) == "SAG\\x1b[2J\\x1b]0;pwned\\x07 T2"
    assert printable("a\nb\tc\r") == "a\\nb\\tc\\r"
    assert printable("x\u202ey\x85") == "x\\u202ey\\x85"
    assert printable("Müller^Zoë") == "Müller^Zoë"  # letters are not controls


def test_stream_keeps_the_programs_own_line_breaks() -> None:
    buf = io.StringIO()
    stream = PrintableStream(buf)
    assert stream.write("one\ttwo\n\x1b[31mred\n") == len("one\ttwo\n\x1b[31mred\n")
    assert buf.getvalue() == "one\ttwo\n\\x1b[31mred\n"


def test_info_prints_hostile_description_and_file_name_as_text(tmp_path: Path) -> None:
    g = sagittal_geometry(3, 8, 8, (0.5, 0.5), 3.0, (0.0, 0.0, 0.0), anterior_on_right=True)
    spec = SeriesSpec(modality="MR", description=HOSTILE, series_uid="1.2.826.0.1.3680043.8.498.77")
    write_series(tmp_path / "mr", np.zeros(g.shape), g, spec)
    (tmp_path / "x\nFAKE 1.2.3 MR forged.dcm").write_bytes(b"not dicom")
    proc = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "main.py"), "info", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout
    assert "SAG\\x1b[2J\\x1b]0;pwned\\x07 T2" in proc.stdout
    # the newline in the file name is shown as \n: no output line starts with the forged text
    assert not any(line.startswith("FAKE") for line in proc.stdout.splitlines())
    assert "x\\nFAKE 1.2.3 MR forged.dcm" in proc.stdout
