"""The Glue Data Catalog over the lake.

- ``types``: the Arrow -> Athena type map (the one place types are translated).
- ``tables``: the five tables and the Glue definitions of tables and partitions.
- ``glue``: ``GlueCatalog``, the only code that calls AWS Glue (boto3, imported lazily).
"""
