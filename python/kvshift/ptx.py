"""The PTX embedded in a module lowered by ``kvshift-to-nvvm`` (format=isa).

The module holds ``gpu.binary @name [#gpu.object<..., assembly = "...">, ...]``;
MLIR prints the string with ``\\XX`` hexadecimal escapes, undone here. Only
the standard library is used: ``scripts/extract-ptx.py`` loads this file by
path.
"""

import re

_ASSEMBLY = re.compile(r'assembly = "((?:[^"\\]|\\.)*)"')


def unescape(s):
    """An MLIR string literal's body (``\\\\``, ``\\"``, ``\\n``, ``\\t`` and
    ``\\XX`` escapes) as text."""
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            nxt = s[i + 1]
            if nxt in "\\\"":
                out += nxt.encode()
                i += 2
                continue
            if nxt == "n":
                out += b"\n"
                i += 2
                continue
            if nxt == "t":
                out += b"\t"
                i += 2
                continue
            out.append(int(s[i + 1:i + 3], 16))
            i += 3
            continue
        out += c.encode()
        i += 1
    return out.decode()


def objects(text):
    """The assembly strings of every ``gpu.object`` in ``text``, escaped."""
    return _ASSEMBLY.findall(text)


def extract_ptx(text, target=0):
    """The PTX of object ``target`` of the lowered module ``text``; raises
    ValueError when there is none."""
    found = objects(text)
    if not found:
        raise ValueError("no PTX (gpu.object assembly) in the module; lower "
                         "with kvshift-to-nvvm{format=isa}")
    if target >= len(found):
        raise ValueError("object %d asked for, but the module has %d"
                         % (target, len(found)))
    return unescape(found[target])
