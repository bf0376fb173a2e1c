"""Arrow's memory pool while validating (batchgate.validation.memory)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from batchgate.validation import memory


def _has_jemalloc() -> bool:
    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        return False
    return True


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    before = pa.default_memory_pool()
    monkeypatch.setattr(memory, "_done", False)
    yield
    pa.set_memory_pool(before)


@pytest.mark.skipif(not _has_jemalloc(), reason="pyarrow built without jemalloc")
def test_jemalloc_becomes_the_pool_once(fresh: None) -> None:
    assert memory.use_validation_pool() is True
    assert pa.default_memory_pool().backend_name == "jemalloc"
    assert memory.use_validation_pool() is True  # idempotent


def test_the_default_pool_can_be_kept(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHGATE_ARROW_POOL", "default")
    name = pa.default_memory_pool().backend_name
    assert memory.use_validation_pool() is False
    assert pa.default_memory_pool().backend_name == name


def test_without_jemalloc_the_default_pool_stays(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> pa.MemoryPool:
        raise NotImplementedError("no jemalloc")

    monkeypatch.setattr(pa, "jemalloc_memory_pool", missing)
    name = pa.default_memory_pool().backend_name
    assert memory.use_validation_pool() is False
    assert pa.default_memory_pool().backend_name == name
