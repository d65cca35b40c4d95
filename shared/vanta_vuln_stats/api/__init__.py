"""The query API's logic, behind thin routes (functions/query_api/app.py): named queries on
Athena (``queries``), the sync workflow's executions (``sync``), and the one mapping of errors
to HTTP statuses (``errors``).

Only the core layer is there at run time: nothing here imports pyarrow. The sync history comes
from the state machine's executions, not from the lake.
"""
