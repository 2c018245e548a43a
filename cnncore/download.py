"""Child process for ``cnncore.data.download``:
``python -m cnncore.download NAME ROOT READ_TIMEOUT [MIRROR]``.

Runs torchvision's real download in its own process so the parent can kill it at a deadline.
A MIRROR replaces torchvision's mirrors and skips its MD5 check (the files' own IDX headers are
still checked when they are read).
"""

import socket
import sys

from cnncore.data import _torchvision_class


def main(argv: list[str]) -> int:
    name, root, read_timeout = argv[0], argv[1], float(argv[2])
    socket.setdefaulttimeout(read_timeout)  # a stalled read fails instead of waiting forever
    cls = _torchvision_class(name)
    if len(argv) > 3:
        cls.mirrors = [argv[3]]
        cls.resources = [(filename, None) for filename, _md5 in cls.resources]
    try:
        cls(root, train=True, download=True)
        cls(root, train=False, download=True)
    except Exception as exc:  # any failure becomes the one line the parent shows
        detail = " ".join(str(exc).split())  # torchvision's message spans lines; keep one
        print(f"{type(exc).__name__}: {detail[:300]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
