#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""lint.contract_ids: docs/contract.md's row ids and the tests that check them agree.

Fails when
  - a row of §4 or §5 has no tests/contract test that runs on every backend the contract suite
    is registered for (io_uring and asio in the Linux build, iocp under Wine), unless the row
    says "Not on iocp:" and why itself; a test runs on iocp unless it sits in a `#ifndef _WIN32` block
    or skips under Wine (skip_under_wine(), under_wine());
  - a tests/contract test (other than a `bad input` one) does not start its name with an id;
  - a test, a porting-suite row or a rule column of docs/bad-input.md names an id the contract
    does not have;
  - an id appears in two rows.
Usage: contract_ids.py ROOT, or contract_ids.py --self-test (the checks fail on bad input).
"""
import glob
import os
import re
import sys

ID = r"[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+"
ID_LIST = re.compile(r"^(" + ID + r"(?:, " + ID + r")*): ")
ROW = re.compile(r"^\| `(" + ID + r")` \|(.*)$")
SECTION = re.compile(r"^## (\d+)\.")
TEST_CASE = re.compile(r'\bTEST_CASE\(\s*"((?:[^"\\]|\\.)*)"')
CHECKED_SECTIONS = {"4", "5"}


def contract_rows(text):
    """{id: (section, row text)} and a list of problems."""
    rows, problems, section = {}, [], None
    for line in text.splitlines():
        m = SECTION.match(line)
        if m:
            section = m.group(1)
            continue
        m = ROW.match(line)
        if m:
            if m.group(1) in rows:
                problems.append(f"contract: id '{m.group(1)}' names two rows")
            rows[m.group(1)] = (section, m.group(2))
    return rows, problems


def contract_tests(path, text):
    """[(name, ids, on_windows)] for every TEST_CASE of one test source."""
    # The preprocessor blocks around each line: "linux" (not compiled on Windows), "windows",
    # or "other" (a condition that does not name _WIN32).
    tests, stack, starts = [], [], []
    for lineno, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if re.match(r"#\s*if(ndef\s+_WIN32\b|\s+!\s*defined\s*\(?\s*_WIN32)", s):
            stack.append("linux")
        elif re.match(r"#\s*if(def\s+_WIN32\b|\s+defined\s*\(?\s*_WIN32)", s):
            stack.append("windows")
        elif re.match(r"#\s*if", s):
            stack.append("other")
        elif re.match(r"#\s*el", s) and stack:
            stack[-1] = {"linux": "windows", "windows": "linux"}.get(stack[-1], "other")
        elif re.match(r"#\s*endif", s) and stack:
            stack.pop()
        if "TEST_CASE(" in s and not s.startswith("#"):
            starts.append((lineno, "linux" not in stack))
    lines = text.splitlines()
    for i, (lineno, on_windows) in enumerate(starts):
        end = starts[i + 1][0] - 1 if i + 1 < len(starts) else len(lines)
        body = "\n".join(lines[lineno - 1 : end])
        m = TEST_CASE.search(body)
        if not m:
            continue
        name = m.group(1)
        skips_wine = "skip_under_wine(" in body or "under_wine()" in body
        ids_match = ID_LIST.match(name)
        ids = ids_match.group(1).split(", ") if ids_match else []
        tests.append((f"{path}:{lineno}", name, ids, on_windows and not skips_wine))
    return tests


def backends(tests_cmake, wine_cmake):
    m = re.search(r"set\(sanport_test_backends ([^)]*)\)", tests_cmake)
    found = m.group(1).split() if m else []
    if re.search(r'TEST_PREFIX "iocp\."', wine_cmake):
        found.append("iocp")
    return found


def check(contract, tests, suite_ids, bad_input_rules, registered):
    rows, problems = contract_rows(contract)
    if not rows:
        return ["contract: no rows with ids found: the pattern no longer matches"]
    windows = "iocp" in registered
    for where, name, ids, _ in tests:
        if ";" in name:
            problems.append(f"{where}: test '{name[:60]}' has a ';', which splits its CTest name")
        if not ids and not name.startswith("bad input "):
            problems.append(f"{where}: test '{name[:60]}' names no contract id")
        for i in ids:
            if i not in rows:
                problems.append(f"{where}: test names '{i}', which docs/contract.md does not have")
    for where, i in suite_ids + bad_input_rules:
        if i not in rows:
            problems.append(f"{where}: names '{i}', which docs/contract.md does not have")
    for i, (section, text) in sorted(rows.items()):
        if section not in CHECKED_SECTIONS:
            continue
        named = [t for t in tests if i in t[2]]
        exempt = "not on iocp:" in text.lower()
        if not named:
            problems.append(f"contract §{section} '{i}': no tests/contract test names it")
        elif windows and not exempt and not any(t[3] for t in named):
            problems.append(
                f"contract §{section} '{i}': every test naming it is Linux-only "
                f"({', '.join(t[0] for t in named)}); run one on iocp or say 'not on iocp' "
                "and why in the row")
    return problems


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def run(root):
    contract = read(os.path.join(root, "docs/contract.md"))
    tests = []
    for path in sorted(glob.glob(os.path.join(root, "tests/contract/*.cpp"))):
        tests += contract_tests(os.path.relpath(path, root), read(path))
    # The porting suite's rows: {{"row name", "ids: what it checks"}, function}.
    suite_ids = []
    for path in sorted(glob.glob(os.path.join(root, "porting/suite/*.cpp"))):
        text = read(path)
        for m in re.finditer(r'\{\{"([^"]+)",\s*"([^"]*)"', text):
            where = f"{os.path.relpath(path, root)}:{text.count(chr(10), 0, m.start()) + 1}"
            ids = ID_LIST.match(m.group(2))
            if not ids:
                suite_ids.append((where, f"(row {m.group(1)} names no id)"))
            for i in ids.group(1).split(", ") if ids else []:
                suite_ids.append((where, i))
    bad_rules = []
    for lineno, line in enumerate(read(os.path.join(root, "docs/bad-input.md")).splitlines(), 1):
        m = re.match(r"^\| `[^`]+` \| `(" + ID + r")` \|", line)
        if m:
            bad_rules.append((f"docs/bad-input.md:{lineno}", m.group(1)))
    registered = backends(
        read(os.path.join(root, "tests/CMakeLists.txt")),
        read(os.path.join(root, "tests/wine.cmake")),
    )
    problems = check(contract, tests, suite_ids, bad_rules, registered)
    if problems:
        print("contract ids and tests disagree:\n  " + "\n  ".join(problems))
        return 1
    rows, _ = contract_rows(contract)
    checked = sum(1 for s, _ in rows.values() if s in CHECKED_SECTIONS)
    print(f"contract ids: {len(rows)} rows ({checked} in §4/§5, each tested on "
          f"{', '.join(registered)}), {len(tests)} tests, {len(suite_ids)} suite rows, "
          f"{len(bad_rules)} bad-input rules")
    return 0


def self_test():
    contract = ("## 4. x\n| `recv.a` | c | r |\n| `recv.b` | c | not on iocp: why |\n"
                "## 6. y\n| `cq.c` | r |\n")
    src = ('TEST_CASE("recv.a: runs everywhere") {}\n#ifndef _WIN32\n'
           'TEST_CASE("recv.b, cq.c: linux") {}\n#endif\n')
    good = contract_tests("t.cpp", src)
    assert check(contract, good, [], [], ["io_uring", "iocp"]) == [], "good input must pass"
    linux_only = contract_tests("t.cpp", src.replace('"recv.a:', '"recv.b:'))
    assert any("'recv.a': no tests" in p for p in check(contract, linux_only, [], [], ["iocp"]))
    wine_skip = contract_tests("t.cpp", src.replace("{}", '{ skip_under_wine("x"); }', 1))
    assert any("Linux-only" in p for p in check(contract, wine_skip, [], [], ["iocp"]))
    unknown = contract_tests("t.cpp", src + 'TEST_CASE("recv.zz: x") {}\n')
    assert any("'recv.zz'" in p for p in check(contract, unknown, [], [], ["iocp"]))
    unnamed = contract_tests("t.cpp", src + 'TEST_CASE("plain name") {}\n')
    assert any("names no contract id" in p for p in check(contract, unnamed, [], [], []))
    assert any("'x.y'" in p for p in check(contract, good, [("s", "x.y")], [], []))
    print("contract ids: self-test passed (6 cases)")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(run(sys.argv[1]))
