"""Fixtures for the lake tests: the template's bucket on the stand-in (tests/conftest.py), a fresh
sqlite catalog and warehouse prefix per test.

``lake`` runs a test twice: against moto's S3 (warehouse ``s3://bucket/…/warehouse``) and against
a local ``file://`` warehouse, both with a SQL catalog on sqlite. ``anylake`` adds a third run with
pyiceberg's GlueCatalog against moto's Glue (the AWS code path). ``s3lake`` is the S3 variant
alone, for tests whose subject is not the storage.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import TemplateAws
from tests.integration.lake.helpers import Lake, make_lake


@pytest.fixture(params=["s3", "file"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    aws = request.getfixturevalue("module_aws") if request.param == "s3" else None
    return make_lake(request.param, tmp_path, aws)


@pytest.fixture(params=["s3", "file", "glue"])
def anylake(request: pytest.FixtureRequest, tmp_path: Path) -> Lake:
    """Also the AWS path: pyiceberg's GlueCatalog against moto's Glue."""
    aws = request.getfixturevalue("module_aws") if request.param != "file" else None
    return make_lake(request.param, tmp_path, aws)


@pytest.fixture
def s3lake(tmp_path: Path, module_aws: TemplateAws) -> Lake:
    return make_lake("s3", tmp_path, module_aws)
