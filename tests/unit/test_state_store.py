"""State stores: the file store (atomic replace, owner-only, clear errors) and the memory store."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from stripe_sync.engine.state_store import FileStateStore, MemoryStateStore
from stripe_sync.protocol.errors import ConfigError

STATE: dict[str, Any] = {
    "source": {"streams": {"customers": {"cursor": "cus_9", "note": "zoë"}}, "global": {}},
    "engine": {"sync_run_id": "run_1", "terminal_streams": {"charges": "complete"}},
}
NEWER: dict[str, Any] = {
    "source": {"streams": {}, "global": {"events_cursor": "evt_2"}},
    "engine": {},
}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _names(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir())


# ---- file store --------------------------------------------------------------------------------


async def test_file_store_round_trip(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "state.json")
    await store.save("default", STATE)
    assert await store.load("default") == STATE
    await store.save("default", NEWER)
    assert await store.load("default") == NEWER


async def test_file_store_writes_the_state_itself(tmp_path: Path) -> None:
    """The file is what ``--state FILE`` reads: the SyncState, not wrapped by pipeline."""
    path = tmp_path / "state.json"
    await FileStateStore(path).save("default", STATE)
    assert await FileStateStore(path).load("another name") == STATE


async def test_file_store_creates_missing_directories(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "deeper" / "state.json"
    await FileStateStore(path).save("default", STATE)
    assert await FileStateStore(path).load("default") == STATE


async def test_file_is_readable_only_by_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{}")
    path.chmod(0o644)
    await FileStateStore(path).save("default", STATE)
    assert _mode(path) == 0o600


async def test_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = FileStateStore(tmp_path / "state.json")
    for number in range(3):
        await store.save("default", {**STATE, "engine": {"sync_run_id": f"run_{number}"}})
    assert _names(tmp_path) == ["state.json"]


async def test_a_state_that_cannot_be_written_leaves_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    store = FileStateStore(path)
    await store.save("default", STATE)
    before = path.read_bytes()
    unserialisable = {"source": {"streams": {"customers": {"cursor": 2**70}}}}
    with pytest.raises(TypeError):
        await store.save("default", unserialisable)
    assert path.read_bytes() == before
    assert await store.load("default") == STATE
    assert _names(tmp_path) == ["state.json"]


async def test_a_failed_replace_removes_its_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.mkdir()
    (target / "keep").write_text("x")
    with pytest.raises(OSError):
        await FileStateStore(target).save("default", STATE)
    assert _names(tmp_path) == ["state.json"]
    assert (target / "keep").read_text() == "x"


async def test_a_missing_file_reads_as_no_state(tmp_path: Path) -> None:
    assert await FileStateStore(tmp_path / "absent.json").load("default") is None
    assert await FileStateStore(tmp_path / "no" / "dir" / "state.json").load("default") is None


async def test_an_empty_file_reads_as_no_state(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("\n")
    assert await FileStateStore(path).load("default") is None


@pytest.mark.parametrize(
    ("content", "says"),
    [
        pytest.param(b'{"source": {"streams": ', "is not valid JSON", id="truncated"),
        pytest.param(b"garbage\nmore garbage\n", "is not valid JSON", id="garbage"),
        pytest.param(b"\xff\xfe\x00binary", "is not valid JSON", id="binary"),
        pytest.param(b'[{"source": {}}]', "must hold a JSON object", id="a list"),
        pytest.param(b'"default"', "must hold a JSON object", id="a string"),
    ],
)
async def test_an_unreadable_file_is_a_one_line_config_error(
    tmp_path: Path, content: bytes, says: str
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        await FileStateStore(path).load("default")
    text = str(caught.value)
    assert str(path) in text
    assert says in text
    assert "\n" not in text
    assert path.read_bytes() == content  # reading never touches the file


async def test_a_directory_in_place_of_the_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read state file") as caught:
        await FileStateStore(tmp_path).load("default")
    assert "\n" not in str(caught.value)


# ---- memory store ------------------------------------------------------------------------------


async def test_memory_store_round_trip_per_pipeline() -> None:
    store = MemoryStateStore()
    assert await store.load("default") is None
    await store.save("default", STATE)
    await store.save("other", NEWER)
    assert await store.load("default") == STATE
    assert await store.load("other") == NEWER
    await store.save("default", NEWER)
    assert await store.load("default") == NEWER


async def test_memory_store_keeps_copies() -> None:
    store = MemoryStateStore()
    given = {"source": {"streams": {"customers": {"cursor": "cus_1"}}}}
    await store.save("default", given)
    given["source"]["streams"]["customers"]["cursor"] = "changed after save"

    loaded = await store.load("default")
    assert loaded == {"source": {"streams": {"customers": {"cursor": "cus_1"}}}}
    assert loaded is not None
    loaded["source"]["streams"]["customers"]["cursor"] = "changed after load"
    assert await store.load("default") == {
        "source": {"streams": {"customers": {"cursor": "cus_1"}}}
    }
