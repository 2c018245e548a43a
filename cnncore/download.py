"""Child process for ``cnncore.data.download``: ``python -m cnncore.download NAME ROOT [MIRROR]``.

Runs torchvision's real download in its own process so the parent can kill it at a deadline.
A MIRROR replaces torchvision's mirrors and skips its MD5 check (the files' own IDX headers are
still checked when they are read).
"""

import sys

from cnncore.data import _torchvision_class


def main(argv: list[str]) -> int:
    name, root = argv[0], argv[1]
    cls = _torchvision_class(name)
    if len(argv) > 2:
        cls.mirrors = [argv[2]]
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
