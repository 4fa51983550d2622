"""PACS nodes: a DIMSE peer (AE title, host, port) or a DICOMweb endpoint (base URL, auth).

A node is named in the settings or given as a URL with no configuration:
``dicom://AE_TITLE@HOST:PORT`` (DIMSE, retrieve by C-GET; ``?move`` retrieves by C-MOVE to
our own Storage SCP) or ``http(s)://[USER:PASSWORD@]HOST:PORT/PATH`` (DICOMweb).
Passwords and tokens live in ``repr=False`` fields and :meth:`describe` never shows them,
so no log line, error or file written from a node can carry a secret.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

DEFAULT_OUR_AE = "ENDPLATE"
DEFAULT_OUR_PORT = 11113
DEFAULT_TIMEOUT_S = 30.0
_AE_RE = re.compile(r"^[ -~]{1,16}$")


@dataclass(frozen=True)
class LocalAe:
    """Our side of a DIMSE association: our AE title and the port our Storage SCP listens on."""

    ae_title: str = DEFAULT_OUR_AE
    port: int = DEFAULT_OUR_PORT


@dataclass(frozen=True)
class DimseNode:
    """A DIMSE peer; ``retrieve`` is ``"get"`` (C-GET) or ``"move"`` (C-MOVE to our SCP)."""

    ae_title: str
    host: str
    port: int
    local: LocalAe = field(default_factory=LocalAe)
    retrieve: str = "get"
    timeout_s: float = DEFAULT_TIMEOUT_S
    name: str = ""

    def describe(self) -> str:
        """``NAME (dicom://AE@HOST:PORT)``: the node for messages."""
        url = f"dicom://{self.ae_title}@{self.host}:{self.port}"
        return f"{self.name} ({url})" if self.name else url


@dataclass(frozen=True)
class WebNode:
    """A DICOMweb endpoint; at most one of basic auth (user, password) or a bearer token."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S
    name: str = ""
    #: Where the settings read the password / token from (an environment variable name):
    #: saving the settings writes the name back, never the secret it read.
    password_env: str | None = None
    token_env: str | None = None

    def describe(self) -> str:
        """``NAME (URL)`` with no credentials."""
        return f"{self.name} ({self.url})" if self.name else self.url


Node = DimseNode | WebNode


def check_ae_title(ae: str, what: str = "AE title") -> str:
    """The AE title stripped, or ValueError: 1-16 printable ASCII characters, no backslash."""
    ae = ae.strip()
    if not _AE_RE.match(ae) or "\\" in ae:
        raise ValueError(f"The {what} {ae!r} is not valid; it must be 1 to 16 ASCII characters.")
    return ae


def check_port(port: int, what: str = "port") -> int:
    if not 1 <= int(port) <= 65535:
        raise ValueError(f"The {what} {port} is not valid; it must be between 1 and 65535.")
    return int(port)


def is_node_url(text: str) -> bool:
    return text.startswith(("dicom://", "http://", "https://"))


def parse_node_url(text: str, local: LocalAe | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> Node:
    """A node from ``dicom://AE@HOST:PORT[?move]`` or ``http(s)://...``; ValueError otherwise.

    The error never repeats the URL when it carried a password.
    """
    parts = urlsplit(text)
    if parts.scheme == "dicom":
        ae, sep, hostport = parts.netloc.rpartition("@")
        host, _, port_text = hostport.rpartition(":")
        if not sep or not host or not port_text.isdigit():
            raise ValueError(f"The node address {text!r} is not of the form dicom://AE_TITLE@HOST:PORT.")
        retrieve = "move" if parts.query == "move" else "get"
        return DimseNode(
            check_ae_title(unquote(ae)),
            host.strip("[]"),
            check_port(int(port_text)),
            local or LocalAe(),
            retrieve,
            timeout_s,
        )
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError("The DICOMweb address has no host; expected http(s)://HOST:PORT/PATH.")
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        netloc = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        clean = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        return WebNode(clean, user, password, None, timeout_s)
    raise ValueError(
        "A node is a name from the settings, dicom://AE_TITLE@HOST:PORT or http(s)://HOST:PORT/PATH; "
        f"{text.split('@')[-1]!r} is neither."
    )
