"""The rules a profile's ``cnfXml`` must follow before it may reach a phone.

Profiles come from users, and phones parse them; the server parses them first, safely:
no DTD is loaded, no entity resolved, nothing fetched from the network, and any
``DOCTYPE`` is refused outright (XXE and "billion laughs" both need one).
"""

from __future__ import annotations

import re

from lxml import etree

from app.core.errors import invalid, required

MAX_CNF_XML_BYTES = 256 * 1024
FIELD = ("input", "cnfXml")

# Refused before parsing, so not even a parser configured as safely as ours sees them.
_DECLARATIONS = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
        remove_blank_text=False,
    )


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def check_cnf_xml(text: str | None) -> str:
    """``text`` unchanged if it is a well-formed ``<device>`` document of at most 256 KiB;
    an INVALID error otherwise, whose message names the line the parser stopped at."""
    if text is None or not text.strip():
        raise required(*FIELD)
    size = len(text.encode("utf-8"))
    if size > MAX_CNF_XML_BYTES:
        raise invalid(
            f"cnfXml is {size} bytes; at most {MAX_CNF_XML_BYTES} bytes (256 KiB) are allowed",
            *FIELD,
        )
    found = _DECLARATIONS.search(text)
    if found:
        raise invalid(
            f"cnfXml line {_line_of(text, found.start())}: DOCTYPE and ENTITY declarations "
            "are not allowed",
            *FIELD,
        )
    try:
        root = etree.fromstring(text.encode("utf-8"), parser=_parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else (exc.position[0] if exc.position else 1)
        reason = exc.msg or str(exc)
        # libxml2 repeats the position at the end of its message; the line says it already.
        reason = re.sub(r",\s*line \d+, column \d+\s*$", "", reason)
        raise invalid(f"cnfXml is not well-formed XML: line {line}: {reason}", *FIELD) from None
    except ValueError as exc:  # e.g. an encoding declaration lxml refuses
        raise invalid(f"cnfXml is not well-formed XML: line 1: {exc}", *FIELD) from None
    tree = root.getroottree()
    if tree.docinfo.doctype:
        raise invalid("cnfXml line 1: a DOCTYPE is not allowed", *FIELD)
    if root.tag != "device":
        raise invalid(
            f"cnfXml line {root.sourceline or 1}: the root element must be <device>, "
            f"not <{root.tag}>",
            *FIELD,
        )
    return text
