"""The small demo set (dicomio.synthetic.demo) once per session-test module."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomio.synthetic.demo import DemoManifest, build_demo_set


@pytest.fixture(scope="module")
def demo_set(tmp_path_factory: pytest.TempPathFactory) -> DemoManifest:
    return build_demo_set(tmp_path_factory.mktemp("demo_set") / "images", small=True)


@pytest.fixture(scope="module")
def demo_folder(demo_set: DemoManifest) -> Path:
    return demo_set.out
