from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import RunningStack, start_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    s = start_stack(Path(tmp_path_factory.mktemp("stack")))
    yield s
    s.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # e2e modules each own a stack: keep a module's tests on one xdist worker.
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__ if item.module else "e2e"))
            item.add_marker(pytest.mark.e2e)
