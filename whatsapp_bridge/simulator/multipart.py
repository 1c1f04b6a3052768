"""A small multipart/form-data parser (the simulator does not depend on python-multipart)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


class MultipartError(ValueError):
    pass


@dataclass
class Part:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


def _params(header_value: str) -> dict[str, str]:
    params = {}
    for key, value in _PARAM.findall(";" + header_value.split(";", 1)[1] if ";" in header_value else ""):
        value = value.strip()
        if value.startswith('"') and value.endswith('"'):
            value = value[1:-1].replace('\\"', '"')
        params[key.lower()] = value
    return params


def boundary_of(content_type: str) -> str:
    if not content_type.lower().startswith("multipart/form-data"):
        raise MultipartError("Content-Type is not multipart/form-data")
    boundary = _params(content_type).get("boundary")
    if not boundary:
        raise MultipartError("multipart boundary missing")
    return boundary


def parse(body: bytes, content_type: str) -> dict[str, Part]:
    """Parts by field name (the last one wins)."""
    delimiter = b"--" + boundary_of(content_type).encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3:
        raise MultipartError("no multipart parts found")
    parts: dict[str, Part] = {}
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        if chunk.endswith(b"\r\n"):
            chunk = chunk[:-2]
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise MultipartError("malformed multipart part")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        params = _params(disposition)
        name = params.get("name")
        if not name:
            continue
        parts[name] = Part(name=name, data=data, filename=params.get("filename"),
                           content_type=headers.get("content-type"))
    return parts
