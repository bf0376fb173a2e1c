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


def _glibc() -> bool:
    import ctypes

    try:
        ctypes.CDLL(None).gnu_get_libc_version  # noqa: B018
    except (OSError, AttributeError):
        return False
    return True


@pytest.mark.skipif(not _glibc(), reason="not glibc")
def test_glibc_keeps_freed_blocks_for_reuse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCHGATE_MALLOC", raising=False)
    assert memory.keep_freed_heap() is True


def test_malloc_can_be_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHGATE_MALLOC", "default")
    assert memory.keep_freed_heap() is False


def test_without_glibc_nothing_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoGlibc:
        def __getattr__(self, name: str) -> object:
            raise AttributeError(name)

    monkeypatch.delenv("BATCHGATE_MALLOC", raising=False)
    monkeypatch.setattr(memory.ctypes, "CDLL", lambda _name: NoGlibc())
    assert memory.keep_freed_heap() is False
