"""PACS nodes in the user's settings (never in case files): load, save (mode 0600), resolve.

The settings file is ``pacs.json`` in the user-data folder (``$ENDPLATE_HOME`` or
``$XDG_DATA_HOME/endplate``)::

    {"version": 1,
     "local": {"ae_title": "ENDPLATE", "port": 11113},
     "cache_dir": "/path/to/cache",                       (optional)
     "nodes": {
       "pacs":  {"type": "dimse", "ae_title": "PACS", "host": "pacs.example", "port": 104,
                 "retrieve": "move"},
       "web":   {"type": "dicomweb", "url": "https://pacs.example/dicom-web",
                 "username": "reader", "password": "...", "token": "...",
                 "password_env": "VAR", "token_env": "VAR"}}}

Only the owner may read it: it is written with mode 0600, and a file found readable by
others is tightened when loaded.  Passwords and tokens stay in ``repr=False`` fields; no
message built here repeats one.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dicomio.atomic import atomic_write
from dicomio.pacs.nodes import (
    DEFAULT_TIMEOUT_S,
    DimseNode,
    LocalAe,
    Node,
    WebNode,
    check_ae_title,
    check_port,
    is_node_url,
    parse_node_url,
)
from measure.userlog import user_data_dir

SETTINGS_NAME = "pacs.json"
SETTINGS_VERSION = 1
_log = logging.getLogger("endplate.pacs")


@dataclass(frozen=True)
class PacsSettings:
    """Our AE, the named nodes and the cache folder."""

    local: LocalAe = field(default_factory=LocalAe)
    nodes: tuple[Node, ...] = field(default=())
    cache_dir: Path | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    def node(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.name == name), None)

    def cache_root(self) -> Path:
        return self.cache_dir or (user_data_dir() / "pacs-cache")

    def with_node(self, node: Node) -> PacsSettings:
        others = tuple(n for n in self.nodes if n.name != node.name)
        return replace(self, nodes=(*others, node))


def settings_path() -> Path:
    return user_data_dir() / SETTINGS_NAME


def _secret(entry: dict[str, Any], key: str, name: str) -> str | None:
    env = entry.get(f"{key}_env")
    if env:
        value = os.environ.get(str(env))
        if value is None:
            raise ValueError(f"The PACS node {name!r} takes its {key} from ${env}, which is not set.")
        return value
    value = entry.get(key)
    return None if value in (None, "") else str(value)


def _node(name: str, entry: dict[str, Any], local: LocalAe, timeout_s: float) -> Node:
    kind = entry.get("type")
    timeout = float(entry.get("timeout_s", timeout_s))
    if kind == "dimse":
        retrieve = str(entry.get("retrieve", "get"))
        if retrieve not in ("get", "move"):
            raise ValueError(f"The PACS node {name!r} has retrieve {retrieve!r}; expected 'get' or 'move'.")
        return DimseNode(
            check_ae_title(str(entry["ae_title"]), f"AE title of the node {name!r}"),
            str(entry["host"]),
            check_port(int(entry["port"]), f"port of the node {name!r}"),
            local,
            retrieve,
            timeout,
            name,
        )
    if kind == "dicomweb":
        url = str(entry["url"])
        parsed = parse_node_url(url)
        if not isinstance(parsed, WebNode):
            raise ValueError(f"The DICOMweb node {name!r} needs an http(s):// URL.")
        username = entry.get("username") or parsed.username
        password = _secret(entry, "password", name) or parsed.password
        token = _secret(entry, "token", name)
        return WebNode(
            parsed.url,
            username,
            password,
            token,
            timeout,
            name,
            entry.get("password_env") or None,
            entry.get("token_env") or None,
        )
    raise ValueError(f"The PACS node {name!r} has type {kind!r}; expected 'dimse' or 'dicomweb'.")


def load_settings(path: Path | None = None) -> PacsSettings:
    """The settings (defaults when the file is absent); ValueError in one sentence when it is bad."""
    path = path or settings_path()
    if not path.is_file():
        return PacsSettings()
    _tighten(path)
    try:
        raw = json.loads(path.read_text("utf-8"))
        local_raw = raw.get("local", {})
        local = LocalAe(
            check_ae_title(str(local_raw.get("ae_title", LocalAe.ae_title)), "our AE title"),
            check_port(int(local_raw.get("port", LocalAe.port)), "our listening port"),
        )
        timeout_s = float(raw.get("timeout_s", DEFAULT_TIMEOUT_S))
        nodes = tuple(_node(str(k), dict(v), local, timeout_s) for k, v in raw.get("nodes", {}).items())
        cache = raw.get("cache_dir")
        return PacsSettings(local, nodes, Path(cache).expanduser() if cache else None, timeout_s)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        detail = str(exc) if isinstance(exc, ValueError) and str(exc).endswith(".") else type(exc).__name__
        if isinstance(exc, KeyError):
            detail = f"a node lacks {exc}"
        raise ValueError(f"The PACS settings {path} cannot be read: {detail}") from None


def _tighten(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, 0o600)
        _log.warning("pacs: %s was readable by others (mode %o); now 0600", path, mode)


def settings_dict(settings: PacsSettings) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    for node in settings.nodes:
        if isinstance(node, DimseNode):
            nodes[node.name] = {
                "type": "dimse",
                "ae_title": node.ae_title,
                "host": node.host,
                "port": node.port,
                "retrieve": node.retrieve,
            }
        else:
            entry: dict[str, Any] = {"type": "dicomweb", "url": node.url}
            if node.username is not None:
                entry["username"] = node.username
            if node.password_env:
                entry["password_env"] = node.password_env
            elif node.password is not None:
                entry["password"] = node.password
            if node.token_env:
                entry["token_env"] = node.token_env
            elif node.token is not None:
                entry["token"] = node.token
            nodes[node.name] = entry
    out: dict[str, Any] = {
        "version": SETTINGS_VERSION,
        "local": {"ae_title": settings.local.ae_title, "port": settings.local.port},
        "timeout_s": settings.timeout_s,
        "nodes": nodes,
    }
    if settings.cache_dir is not None:
        out["cache_dir"] = str(settings.cache_dir)
    return out


def save_settings(settings: PacsSettings, path: Path | None = None) -> Path:
    """Write the settings atomically, readable by the owner only (mode 0600)."""
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(settings_dict(settings), indent=1).encode("utf-8")
    atomic_write(path, data, mode=0o600)
    os.chmod(path, 0o600)  # an existing file replaced keeps the new file's mode; the umask may be 0
    return path


def pacs_node_names() -> list[str]:
    """The configured node names (none when the settings cannot be read: the user may type a URL)."""
    try:
        return [n.name for n in load_settings().nodes]
    except ValueError:
        return []


def resolve_node(text: str, settings: PacsSettings | None = None) -> Node:
    """A node by settings name or by URL (``dicom://AE@HOST:PORT``, ``http(s)://...``)."""
    settings = settings if settings is not None else load_settings()
    if is_node_url(text):
        return parse_node_url(text, settings.local, settings.timeout_s)
    named = settings.node(text)
    if named is None:
        known = ", ".join(n.name for n in settings.nodes) or "none"
        raise ValueError(
            f"There is no PACS node {text!r} in the settings ({known} configured); "
            "give its name or a dicom://AE@HOST:PORT or http(s):// address."
        )
    return named
