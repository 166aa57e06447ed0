"""Validate SARIF files against the official SARIF 2.1.0 schema (tests/schemas/sarif-2.1.0.json,
OASIS errata 01, draft-04) and check what a code-scanning UI relies on beyond the schema: every
result names a rule the driver lists, and ruleIndex points at it.

usage: validate_sarif.py FILE.sarif...
"""

import json
import pathlib
import sys

import jsonschema

SCHEMA = pathlib.Path(__file__).resolve().parents[1] / "schemas" / "sarif-2.1.0.json"


def main(paths):
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema, format_checker=jsonschema.FormatChecker())
    failed = 0
    for p in paths:
        doc = json.loads(pathlib.Path(p).read_text())
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        for e in errors[:20]:
            print(f"{p}: {'/'.join(map(str, e.path))}: {e.message}", file=sys.stderr)
        run = doc["runs"][0]
        ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
        for i, r in enumerate(run["results"]):
            if r["ruleId"] not in ids or ids[r["ruleIndex"]] != r["ruleId"]:
                errors.append(f"result {i}: rule {r['ruleId']} / index {r['ruleIndex']}")
                print(f"{p}: result {i} names rule {r['ruleId']} at index {r['ruleIndex']}", file=sys.stderr)
        if errors:
            failed += 1
        else:
            print(f"{p}: valid SARIF 2.1.0, {len(run['results'])} result(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
