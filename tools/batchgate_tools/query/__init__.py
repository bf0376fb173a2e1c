"""``batchgate query "SQL"``: DuckDB over the datasets' Iceberg tables, scans pushed down.

Modules, in the order a query goes through them: ``parse`` (DuckDB's own parser), ``datasets``
(names → datasets, SHOW TABLES), ``pushdown`` (the columns and row filter of each scan) with
``predicates`` (a WHERE conjunct as an Iceberg expression), ``sources`` (the stream DuckDB scans),
``engine`` (all of it, and errors as one line), ``remote`` (datasets through the API, as the CLI
reaches them) and ``errors``.
"""

from batchgate_tools.query.datasets import CatalogDirectory, DatasetEntry, Directory
from batchgate_tools.query.engine import run_query
from batchgate_tools.query.errors import AmbiguousName, QueryError

__all__ = ["AmbiguousName", "CatalogDirectory", "DatasetEntry", "Directory", "QueryError", "run_query"]
