"""The table's plumbing shared by its repositories: attribute values, conditional-write failures,
and reads (one item, a paginated query, one index partition).

Every repository (:mod:`.store`, :mod:`.batch_queries`, :mod:`.job_store`, :mod:`.feed_store`,
:mod:`.bundle_store`) is a :class:`Repository` over the one DynamoDB table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from batchgate.aws.clients import client


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _conditional_failed(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    return code in ("ConditionalCheckFailedException", "TransactionCanceledException")


class Repository:
    def __init__(self, table_name: str) -> None:
        self.table = table_name
        self.ddb = client("dynamodb")

    def _get(self, pk: str, sk: str, *, consistent: bool = True) -> dict[str, Any] | None:
        resp = self.ddb.get_item(
            TableName=self.table, Key={"pk": _s(pk), "sk": _s(sk)}, ConsistentRead=consistent
        )
        item: dict[str, Any] | None = resp.get("Item")
        return item

    def _applied(self, operation: str, **kwargs: Any) -> bool:
        """A conditional write on this table (``put_item``, ``delete_item``): True when it was
        applied, False when its condition did not hold; any other failure raises."""
        try:
            getattr(self.ddb, operation)(TableName=self.table, **kwargs)
        except ClientError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def _query(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.ddb.get_paginator("query")
        for page in paginator.paginate(TableName=self.table, **kwargs):
            yield from page.get("Items", [])

    def _query_index(self, index: str, pk: str, *, desc: bool) -> Iterator[dict[str, Any]]:
        return self._query(
            IndexName=index,
            KeyConditionExpression=f"{index}pk = :pk",
            ExpressionAttributeValues={":pk": _s(pk)},
            ScanIndexForward=not desc,
        )
