"""The Glue Data Catalog over the lake.

- ``types``: the Arrow -> Athena type map (the one place types are translated).
"""
