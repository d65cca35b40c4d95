"""Query engines over the lake and the named SQL they run.

Import each engine from its own module (``vanta_vuln_stats.query.athena`` for Athena): importing
this package loads no driver (boto3, DuckDB), so a command that never queries pays nothing.
"""
