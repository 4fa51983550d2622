"""PACS work without Qt: echo, find, retrieve a study into the cache, send files; the CLI verbs.

``endplate pacs echo|find|get|nodes|add`` and the app's PACS dialogs call these.  Every
failure reaches the user as the one sentence of :class:`~dicomio.pacs.errors.PacsError`
(or a ``ValueError`` for a bad node, date or setting); nothing here prints a secret.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dicomio.pacs import client
from dicomio.pacs.client import RetrievedSeries
from dicomio.pacs.errors import PacsError
from dicomio.pacs.matches import StudyMatch, StudyQuery, check_date_range
from dicomio.pacs.nodes import DimseNode, LocalAe, Node, WebNode, check_ae_title, check_port, parse_node_url
from session.pacs_settings import PacsSettings, load_settings, resolve_node, save_settings

# (series index from 0, number of series, images done in this series, images expected or None)
StudyProgress = Callable[[int, int, int, int | None], None]
Cancel = Callable[[], bool]


@dataclass(frozen=True)
class StudyRetrieval:
    """The series of a study now in the cache, in the order asked."""

    study_uid: str
    series: tuple[RetrievedSeries, ...]

    @property
    def folders(self) -> list[Path]:
        return [s.folder for s in self.series]


def series_of_study(node: Node, study_uid: str) -> list[str]:
    """The series UIDs of one study, by a query on its UID."""
    studies = client.find(node, StudyQuery(study_uid=study_uid))
    match = next((s for s in studies if s.study_uid == study_uid), None)
    if match is None:
        raise PacsError(f"The PACS node {node.describe()} has no study {study_uid}.")
    return [s.series_uid for s in match.series]


def retrieve_study(
    node: Node,
    study_uid: str,
    series_uids: Sequence[str],
    cache_root: Path,
    progress: StudyProgress | None = None,
    cancel: Cancel | None = None,
) -> StudyRetrieval:
    """Retrieve the given series (all of the study when empty) into ``cache_root``."""
    uids = list(series_uids) or series_of_study(node, study_uid)
    done: list[RetrievedSeries] = []
    for index, series_uid in enumerate(uids):

        def one(n: int, total: int | None, index: int = index) -> None:
            if progress is not None:
                progress(index, len(uids), n, total)

        done.append(client.retrieve_series(node, study_uid, series_uid, cache_root, one, cancel))
    return StudyRetrieval(study_uid, tuple(done))


def send_files(
    node: Node,
    paths: Sequence[Path],
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> None:
    """Send DICOM files (a case's SR) by C-STORE or STOW-RS, with progress and cancel."""
    client.send_files(node, list(paths), progress, cancel)


# ---- CLI verbs ---------------------------------------------------------------------------


def _fail(verb: str, message: object) -> int:
    print(f"endplate pacs {verb}: {message}", file=sys.stderr)
    return 1


def _node_or_fail(verb: str, text: str) -> Node | None:
    try:
        return resolve_node(text)
    except ValueError as exc:
        _fail(verb, exc)
        return None


def run_pacs_echo(node_text: str) -> int:
    node = _node_or_fail("echo", node_text)
    if node is None:
        return 2
    try:
        seconds = client.echo(node)
    except PacsError as exc:
        return _fail("echo", exc)
    kind = "C-ECHO" if isinstance(node, DimseNode) else "QIDO-RS"
    print(f"{node.describe()}: {kind} answered in {seconds * 1000:.0f} ms")
    return 0


def build_query(
    patient_id: str = "",
    patient_name: str = "",
    date: str = "",
    modality: str = "",
    accession: str = "",
    description: str = "",
    max_studies: int = 500,
) -> StudyQuery:
    """A study query from user input (the date checked: YYYYMMDD or FROM-TO)."""
    return StudyQuery(
        patient_id=patient_id.strip(),
        patient_name=patient_name.strip(),
        date_range=check_date_range(date) if date.strip() else "",
        modality=modality.strip().upper(),
        accession_number=accession.strip(),
        study_description=description.strip(),
        max_studies=max_studies,
    )


def _study_lines(study: StudyMatch) -> list[str]:
    mods = "/".join(study.modalities) or "?"
    head = (
        f"{study.study_date or '--------'}  {study.patient_id or '(no id)'}  {mods}  "
        f"{study.description or '(no description)'}  {study.study_uid}"
    )
    lines = [head]
    for s in study.series:
        n = "?" if s.n_images is None else str(s.n_images)
        lines.append(
            f"    {s.modality or '?':3s} {n:>5s} images  "
            f"{s.description or '(no description)'}  {s.series_uid}"
        )
    return lines


def run_pacs_find(node_text: str, query_args: dict[str, str], as_json: bool, max_studies: int) -> int:
    node = _node_or_fail("find", node_text)
    if node is None:
        return 2
    try:
        query = build_query(**query_args, max_studies=max_studies)
    except ValueError as exc:
        _fail("find", exc)
        return 2
    try:
        studies = client.find(node, query)
    except PacsError as exc:
        return _fail("find", exc)
    for study in studies:
        if as_json:
            print(json.dumps(study.as_json()))
        else:
            print("\n".join(_study_lines(study)))
    if not as_json:
        print(
            f"{len(studies)} stud{'y' if len(studies) == 1 else 'ies'} on {node.describe()}", file=sys.stderr
        )
    return 0


def run_pacs_get(node_text: str, study_uid: str, series_uids: list[str], out: Path) -> int:
    node = _node_or_fail("get", node_text)
    if node is None:
        return 2
    tty = sys.stderr.isatty()

    def progress(index: int, n_series: int, done: int, total: int | None) -> None:
        if tty:
            of = "" if total is None else f"/{total}"
            print(f"\rseries {index + 1}/{n_series}: {done}{of} images", end="", file=sys.stderr, flush=True)

    try:
        result = retrieve_study(node, study_uid, series_uids, out.expanduser(), progress)
    except PacsError as exc:
        if tty:
            print(file=sys.stderr)
        return _fail("get", exc)
    if tty:
        print(file=sys.stderr)
    for s in result.series:
        how = "already in the cache" if s.reused else "retrieved"
        print(f"{s.series_uid}: {len(s.files)} images {how} in {s.folder}")
    return 0


def run_pacs_nodes() -> int:
    try:
        settings = load_settings()
    except ValueError as exc:
        return _fail("nodes", exc)
    print(f"our AE title {settings.local.ae_title}, Storage SCP port {settings.local.port}")
    print(f"cache {settings.cache_root()}")
    for node in settings.nodes:
        if isinstance(node, DimseNode):
            print(
                f"{node.name}: DIMSE {node.ae_title}@{node.host}:{node.port}, "
                f"retrieve by C-{node.retrieve.upper()}"
            )
        else:
            auth = "bearer token" if node.token else "basic auth" if node.username is not None else "no auth"
            print(f"{node.name}: DICOMweb {node.url} ({auth})")
    return 0


def add_node(
    settings: PacsSettings,
    name: str,
    url: str,
    *,
    move: bool = False,
    username: str | None = None,
    password_env: str | None = None,
    token_env: str | None = None,
) -> PacsSettings:
    """The settings with the node ``name`` added or replaced (ValueError for a bad URL).

    Secrets come from environment variables; the settings keep the variables' names.
    """
    secrets: dict[str, str | None] = {}
    for key, env in (("password", password_env), ("token", token_env)):
        if env:
            if env not in os.environ:
                raise ValueError(f"The environment variable {env} for the {key} is not set.")
            secrets[key] = os.environ[env]
    if not name.strip() or is_url_like(name):
        raise ValueError(f"The node name {name!r} is not valid; use a short word such as 'pacs'.")
    node = parse_node_url(url, settings.local, settings.timeout_s)
    if isinstance(node, DimseNode):
        named: Node = DimseNode(
            node.ae_title,
            node.host,
            node.port,
            settings.local,
            "move" if move else node.retrieve,
            node.timeout_s,
            name,
        )
    else:
        named = WebNode(
            node.url,
            username if username is not None else node.username,
            secrets.get("password") or node.password,
            secrets.get("token"),
            node.timeout_s,
            name,
            password_env or None,
            token_env or None,
        )
    return settings.with_node(named)


def is_url_like(text: str) -> bool:
    return "://" in text


def run_pacs_add(
    name: str,
    url: str,
    *,
    move: bool,
    username: str | None,
    password_env: str | None,
    token_env: str | None,
    our_ae: str | None,
    our_port: int | None,
) -> int:
    try:
        settings = load_settings()
        if our_ae is not None or our_port is not None:
            local = LocalAe(
                check_ae_title(our_ae, "our AE title") if our_ae is not None else settings.local.ae_title,
                check_port(our_port, "our listening port") if our_port is not None else settings.local.port,
            )
            settings = PacsSettings(
                local,
                tuple(
                    DimseNode(n.ae_title, n.host, n.port, local, n.retrieve, n.timeout_s, n.name)
                    if isinstance(n, DimseNode)
                    else n
                    for n in settings.nodes
                ),
                settings.cache_dir,
                settings.timeout_s,
            )
        settings = add_node(
            settings, name, url, move=move, username=username, password_env=password_env, token_env=token_env
        )
        path = save_settings(settings)
    except (ValueError, OSError) as exc:
        return _fail("add", exc)
    node = settings.node(name)
    assert node is not None
    print(f"saved the node {node.describe()} in {path}")
    return 0
