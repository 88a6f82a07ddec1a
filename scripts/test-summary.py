#!/usr/bin/env python3
"""Prints one closing line for `make test`: 'N passed, N failed, N skipped' over every meson
test log given (release, ASan, TSan) plus the fuzz targets that ran clean."""
import json
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    if path.startswith("fuzz:"):
        passed += int(path[5:])
        continue
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                r = json.loads(line).get("result", "")
                if r in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                elif r == "SKIP":
                    skipped += 1
                else:
                    failed += 1
    except FileNotFoundError:
        print(f"test-summary: missing {path}", file=sys.stderr)
        failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
