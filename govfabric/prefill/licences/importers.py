"""Reading licence records from XML and CSV into plain rows (validation is the service's).

XML (parsed with defusedxml: entity expansion and external references refused)::

    <licences>
      <licence>
        <identifier>1.2.156.3005.2.…</identifier>  <number>…</number>
        <type_code>…</type_code>  <type_name>营业执照</type_name>
        <holder_name>…</holder_name>  <holder_id>…</holder_id>  <holder_id_type>uscc</holder_id_type>
        <authority>…</authority>  <authority_code>…</authority_code>
        <issued_on>2024-05-01</issued_on>  <valid_from>…</valid_from>  <valid_until/>
        <status>valid</status>  <file>yyzz-0001.pdf</file>
      </licence>
    </licences>

The demo library's element names (``licence_id``, ``licence_type_code``, ``issuer``, ``valid_to``…)
and the Chinese GB/T 36903 names (证照标识, 持证主体代码…) are accepted as aliases, in XML
element names and CSV headers alike. CSV files are UTF-8 (with or without BOM) or GB18030.
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from pathlib import Path
from typing import Any

from govfabric.errors import ValidationFailed

MAX_BYTES = 64 * 1024 * 1024
FIELDS = ("identifier", "number", "type_code", "type_name", "holder_name", "holder_id", "holder_id_type",
          "authority", "authority_code", "issued_on", "valid_from", "valid_until", "status", "file")
ALIASES: dict[str, str] = {
    # the demo library (govfabric/demo/writers.py)
    "licence_id": "identifier", "licence_no": "number", "licence_type_code": "type_code",
    "licence_type": "type_name", "issuer": "authority", "issuer_code": "authority_code",
    "issue_date": "issued_on", "valid_to": "valid_until",
    # GB/T 36903 Chinese names
    "证照标识": "identifier", "电子证照标识": "identifier", "证照编号": "number", "证照类型代码": "type_code",
    "证照名称": "type_name", "证照类型名称": "type_name", "持证主体": "holder_name", "持证主体名称": "holder_name",
    "持证主体代码": "holder_id", "持证主体代码类型": "holder_id_type", "颁发机构": "authority",
    "证照颁发机构": "authority", "颁发机构代码": "authority_code", "证照颁发机构代码": "authority_code",
    "颁发日期": "issued_on", "证照颁发日期": "issued_on", "有效期起始": "valid_from", "有效期起始日期": "valid_from",
    "有效期截止": "valid_until", "有效期截止日期": "valid_until", "证照状态": "status", "文件": "file",
    "证照文件": "file",
}

Row = tuple[str, dict[str, str]]  # (where, canonical field -> text)


@lru_cache(maxsize=1024)
def canonical(name: str) -> str | None:
    """The canonical field a column or element name stands for, or None when unknown (remembered:
    an XML file asks once per element, ~14 times per licence)."""
    key = name.strip().lstrip("\ufeff")
    low = key.lower()
    if low in FIELDS:
        return low
    return ALIASES.get(low) or ALIASES.get(key)


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise ValidationFailed(f"{path} is not a file; give the XML or CSV file to import")
    if path.stat().st_size > MAX_BYTES:
        raise ValidationFailed(f"{path} is larger than {MAX_BYTES // (1024 * 1024)} MiB; split it")
    return path.read_bytes()


def read_rows(path: Path) -> list[Row]:
    """Rows of an ``.xml`` or ``.csv`` file (chosen by suffix)."""
    suffix = path.suffix.lower()
    if suffix == ".xml":
        from govfabric.catalog.harvest.files import parsed_xml_root

        data = _read(path)
        root = parsed_xml_root(data)  # just harvested (the demo): not parsed again
        return element_rows(root, path.name) if root is not None else xml_rows(data, path.name)
    if suffix in (".csv", ".txt"):
        return csv_rows(_read(path), path.name)
    raise ValidationFailed(f"{path.name}: import .xml or .csv files (got {suffix or 'no suffix'})")


def xml_rows(data: bytes, name: str = "XML") -> list[Row]:
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(data)
    except DefusedXmlException as exc:
        raise ValidationFailed(f"{name}: refused ({type(exc).__name__}): entities and external "
                               "references are not allowed in licence files") from None
    except (ParseError, ValueError) as exc:
        raise ValidationFailed(f"{name} is not well-formed XML: {exc}") from None
    return element_rows(root, name)


def element_rows(root: Any, name: str = "XML") -> list[Row]:
    """The rows of a parsed ``<licences>`` document (:func:`xml_rows` after parsing)."""
    if _local(root.tag) != "licences":
        raise ValidationFailed(f"{name}: the root element must be <licences>, got <{_local(root.tag)}>")
    rows: list[Row] = []
    problems: list[str] = []
    fields: dict[object, str | None] = {}  # tag → field, for the few tags of 2,000 × 25 elements
    for n, el in enumerate((e for e in root if _local(e.tag) == "licence"), 1):
        values: dict[str, str] = {}
        for child in el:
            tag = child.tag
            if tag in fields:
                field = fields[tag]
            else:
                field = fields[tag] = canonical(_local(tag))
            if field is None:
                problems.append(f"licence {n}: unknown element <{_local(child.tag)}>; known: {', '.join(FIELDS)}")
                continue
            values[field] = (child.text or "").strip()
        rows.append((f"licence {n}", values))
    if problems:
        raise ValidationFailed(f"{name}: nothing imported", problems)
    return rows


def _local(tag: object) -> str:
    return str(tag).rpartition("}")[2]


def decode(data: bytes, name: str) -> str:
    """UTF-8 (BOM or not), else GB18030; anything else is refused."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationFailed(f"{name} is neither UTF-8 nor GB18030 text; save it in one of them")


def csv_rows(data: bytes, name: str = "CSV") -> list[Row]:
    reader = csv.reader(io.StringIO(decode(data, name), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationFailed(f"{name} is empty; the first line names the columns") from None
    fields = [canonical(h) for h in header]
    unknown = [h for h, f in zip(header, fields, strict=True) if f is None]
    if unknown:
        raise ValidationFailed(f"{name}: unknown column(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    rows: list[Row] = []
    for n, record in enumerate(reader, 2):
        if not any(c.strip() for c in record):
            continue
        if len(record) != len(fields):
            rows.append((f"line {n}", {"__error__": f"has {len(record)} values for {len(fields)} columns"}))
            continue
        rows.append((f"line {n}", {f: v.strip() for f, v in zip(fields, record, strict=True) if f}))
    return rows
