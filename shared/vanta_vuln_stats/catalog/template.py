"""The Glue tables of template.yaml, generated from the same definitions ``catalog sync`` and the
pipeline's UpdatePartitions give Glue (``tables.table_input``/``current_table_input``), so the
deployed tables, the tables the pipeline keeps and the Parquet files cannot disagree.

    python -m vanta_vuln_stats.catalog.template [TEMPLATE]           rewrite the block
    python -m vanta_vuln_stats.catalog.template --check [TEMPLATE]   exit 1 when it is stale

The block sits between ``BEGIN_MARKER`` and ``END_MARKER`` in the template's Resources. Each
table's location is ``!Sub s3://${DataBucket}/<prefix>/``: the lake at the bucket's root, as the
functions' ``VANTA_LAKE`` says. Partition projection stays off (``catalog sync --projection``
turns it on), so the pipeline's own update of a table finds nothing to change.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from vanta_vuln_stats.catalog.tables import (
    CATALOG_TABLES,
    CURRENT_TABLES,
    current_table_input,
    table_input,
)

__all__ = [
    "BEGIN_MARKER",
    "END_MARKER",
    "LAKE_URL",
    "logical_id",
    "rewrite",
    "table_resources",
    "tables_block",
]

BEGIN_MARKER = "  # BEGIN generated Glue tables (python -m vanta_vuln_stats.catalog.template)"
END_MARKER = "  # END generated Glue tables"
# The lake's root in the template: a placeholder of Fn::Sub, resolved by CloudFormation.
LAKE_URL = "s3://${DataBucket}"


def logical_id(table_name: str) -> str:
    """``vanta_vulnerabilities_current`` -> ``GlueTableVantaVulnerabilitiesCurrent``."""
    return "GlueTable" + "".join(part.title() for part in table_name.split("_"))


def _with_sub_location(definition: dict[str, Any]) -> dict[str, Any]:
    storage = definition["StorageDescriptor"]
    storage["Location"] = {"Fn::Sub": storage["Location"]}
    return definition


def table_resources() -> dict[str, dict[str, Any]]:
    """Logical id -> the AWS::Glue::Table resource, in the catalog's order."""
    inputs = [table_input(table, LAKE_URL) for table in CATALOG_TABLES]
    inputs += [current_table_input(table, LAKE_URL) for table in CURRENT_TABLES]
    return {
        logical_id(definition["Name"]): {
            "Type": "AWS::Glue::Table",
            "Properties": {
                "CatalogId": {"Ref": "AWS::AccountId"},
                "DatabaseName": {"Ref": "GlueDatabase"},
                "TableInput": _with_sub_location(definition),
            },
        }
        for definition in inputs
    }


def tables_block() -> str:
    """The block's text, markers included, indented to sit under ``Resources:``."""
    import yaml

    class Dumper(yaml.SafeDumper):
        def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
            return super().increase_indent(flow, False)  # sequences indented, as in the file

    body = yaml.dump(
        table_resources(), Dumper=Dumper, sort_keys=False, width=100, default_flow_style=False
    )
    lines = [
        BEGIN_MARKER,
        "  # The lake's tables, from the schemas of its Parquet files (catalog/tables.py). Do not",
        "  # edit: change the schemas and run the command above; a unit test fails when stale.",
        *(f"  {line}" if line else line for line in body.splitlines()),
        END_MARKER,
    ]
    return "\n".join(lines) + "\n"


def rewrite(text: str) -> str:
    """``text`` (a template) with its block replaced by the generated one."""
    start = text.find(BEGIN_MARKER)
    end = text.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError(f"the template has no block between {BEGIN_MARKER!r} and {END_MARKER!r}")
    end = text.index("\n", end) + 1
    return text[:start] + tables_block() + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vanta_vuln_stats.catalog.template",
        description="Write (or check) the generated Glue tables in template.yaml.",
    )
    parser.add_argument("template", nargs="?", default="template.yaml", type=Path)
    parser.add_argument("--check", action="store_true", help="exit 1 when the block is stale")
    args = parser.parse_args(argv)
    text = args.template.read_text()
    wanted = rewrite(text)
    if args.check:
        if wanted != text:
            print(
                f"{args.template}: the Glue tables differ from the lake's schemas; run "
                "python -m vanta_vuln_stats.catalog.template",
                file=sys.stderr,
            )
            return 1
        return 0
    if wanted != text:
        args.template.write_text(wanted)
        print(f"{args.template}: Glue tables rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
