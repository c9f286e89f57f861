"""Write docs/setup-guide.md from the setup guide's source (src/wiggledesk_scim/entrypoints/guide/setup-guide.md)
and the refusal catalogue (src/wiggledesk_scim/domain/catalogue.py), exactly as /help/scim renders them.

    .venv/bin/python scripts/setup_guide.py           # rewrite docs/setup-guide.md
    .venv/bin/python scripts/setup_guide.py --check   # exit 1 if it is not what the source gives

tests/integration/test_setup_guide.py fails while the file is stale; run this after changing either source.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wiggledesk_scim.entrypoints.guide import markdown_text

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "setup-guide.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that the file is up to date")
    options = parser.parse_args(argv)
    text = markdown_text()
    current = GUIDE.read_text(encoding="utf-8") if GUIDE.exists() else None
    if options.check:
        if current != text:
            print(f"{GUIDE} is stale: run .venv/bin/python scripts/setup_guide.py", file=sys.stderr)
            return 1
        return 0
    if current != text:
        GUIDE.write_text(text, encoding="utf-8")
        print(f"wrote {GUIDE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
