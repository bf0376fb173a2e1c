"""The S3 object-created notifications that reach the validators through SQS, as parser models.

Only the fields batchgate reads are declared (extra fields are ignored), so the real S3 shape,
moto's, and the samples in ``events/`` all parse. The first message S3 sends to a new queue is
an ``s3:TestEvent``: it parses too, and carries no records.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.parser.types import Json
from pydantic import BaseModel, ConfigDict, Field


class S3ObjectModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    key: str
    size: int = 0
    e_tag: str = Field(default="", alias="eTag")
    version_id: str | None = Field(default=None, alias="versionId")
    sequencer: str = ""


class S3BucketModel(BaseModel):
    name: str


class S3EntityModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    bucket: S3BucketModel
    object_: S3ObjectModel = Field(alias="object")


class S3RecordModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    event_name: str = Field(alias="eventName")
    # When S3 finished the request that created the object (optional: hand-made events lack it).
    event_time: dt.datetime | None = Field(default=None, alias="eventTime")
    s3: S3EntityModel


class S3NotificationModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    records: list[S3RecordModel] = Field(default_factory=list, alias="Records")


class S3TestEventModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    event: Literal["s3:TestEvent"] = Field(alias="Event")


class ObjectCreatedMessage(SqsRecordModel):
    """One SQS message of a validator's queue: an S3 notification (or S3's test event)."""

    body: Json[S3NotificationModel | S3TestEventModel]

    def object_events(self) -> list[ObjectEvent]:
        if isinstance(self.body, S3TestEventModel):
            return []
        return [
            ObjectEvent.from_record(r) for r in self.body.records if r.event_name.startswith("ObjectCreated")
        ]


@dataclass(frozen=True)
class ObjectEvent:
    """One object version that was created: what the validators act on."""

    bucket: str
    key: str
    size: int
    etag: str
    version_id: str | None
    sequencer: str
    # Where the bytes are read from when not ``key`` itself: a drop's version that was
    # overwritten before its event was handled is copied there first (router).
    read_key: str | None = None
    # When S3 created the object (the event's eventTime, epoch ms): when the file was received.
    received_at: int | None = None

    @property
    def source_key(self) -> str:
        return self.read_key or self.key

    @property
    def version(self) -> str:
        """What tells this version of the object apart: S3's version id in a versioned bucket
        (the template's), else the ETag."""
        return self.version_id or self.etag

    @classmethod
    def from_record(cls, record: S3RecordModel) -> ObjectEvent:
        obj = record.s3.object_
        return cls(
            bucket=record.s3.bucket.name,
            key=unquote_plus(obj.key),  # S3 sends keys URL-encoded
            size=obj.size,
            etag=obj.e_tag.strip('"'),
            version_id=obj.version_id or None,
            # Sequencers are hex of varying length; compare left-padded (AWS's own advice).
            sequencer=obj.sequencer.rjust(32, "0"),
            received_at=int(record.event_time.timestamp() * 1000) if record.event_time else None,
        )
