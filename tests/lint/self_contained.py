#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""lint.self_contained: nothing in the repository points at a file outside it.

The rules sanport implements are docs/contract.md; the specification is Microsoft's public
WSPRecv reference page (README.md). A comment or a document that cites a contract file, notes
or a specification copy kept next to the repository, or a tracker issue by number, leaves a
reader who cloned only this repository with a dead reference. Fails, printing file:line for
each hit, when a file other than CHANGELOG.md (which may name issues), LICENSE and this script
matches FORBIDDEN below.

Files: `git ls-files --cached --others --exclude-standard` (tracked files plus new ones not yet
added, so a helper's uncommitted file is caught too); outside a git checkout, a walk of the
tree without .git and build folders. Binary files (a NUL byte) are skipped.

Usage: self_contained.py ROOT
"""
import os
import re
import subprocess
import sys

FORBIDDEN = re.compile(r"CONTRACT|research/|seed/|\.\./shared|[Ii]ssue [0-9]")
# LICENSE is the MIT text, whose warranty clause says "CONTRACT".
EXEMPT = {"CHANGELOG.md", "LICENSE", "tests/lint/self_contained.py"}


def listed_files(root):
    try:
        out = subprocess.run(
            ["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            check=True, capture_output=True).stdout
        return sorted({p for p in out.decode("utf-8", "replace").split("\0") if p})
    except (OSError, subprocess.CalledProcessError):
        pass
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git" and not d.startswith("build")]
        for name in names:
            files.append(os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/"))
    return sorted(files)


def hits(root, rel):
    path = os.path.join(root, rel)
    if not os.path.isfile(path):
        return []  # deleted in the work tree, or a submodule
    with open(path, "rb") as f:
        data = f.read()
    if b"\0" in data:
        return []
    found = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        if FORBIDDEN.search(line):
            found.append(f"{rel}:{number}: {line.strip()[:160]}")
    return found


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    root = argv[1]
    files = [f for f in listed_files(root) if f not in EXEMPT]
    if not files:
        print(f"self_contained: no files found under {root}")
        return 1
    problems = [h for rel in files for h in hits(root, rel)]
    if problems:
        print("references outside the repository (use docs/contract.md ids, docs/design.md or "
              "the specification's link in README.md instead):")
        print("\n".join("  " + p for p in problems))
        print(f"{len(problems)} hits in {len({p.split(':')[0] for p in problems})} files")
        return 1
    print(f"self_contained ok: {len(files)} files checked")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
