"""The SQLite index: rebuildable, incremental, and deaf to corrupted or hand-edited records."""

from __future__ import annotations

import json
import os

from claimledger.ledger import best_run, record_path, refresh_index, runs, verify
from claimledger.ledger.index import index_path
from claimledger.ledger.store import records_dir
from claimledger.workspace import Workspace

from .conftest import PLATFORM, run


def three_runs(ws: Workspace) -> list[str]:
    return [run(ws, "a", 1.3), run(ws, "b", 1.1), run(ws, "c", 1.2)]


def problems_of(ws: Workspace) -> dict[str, str]:
    return {f["path"]: f["problem"] for f in verify(ws)}


def test_deleting_the_index_loses_nothing(ws: Workspace) -> None:
    ids = three_runs(ws)
    before = runs(ws)
    for suffix in ("", "-wal", "-shm"):
        index_path(ws).with_name(index_path(ws).name + suffix).unlink(missing_ok=True)
    assert runs(ws) == before
    assert [r["id"] for r in before] == ids
    assert refresh_index(ws, rebuild=True).indexed == 3


def test_a_damaged_index_file_is_rebuilt(ws: Workspace) -> None:
    three_runs(ws)
    before = runs(ws)
    for suffix in ("-wal", "-shm"):
        index_path(ws).with_name(index_path(ws).name + suffix).unlink(missing_ok=True)
    index_path(ws).write_bytes(b"this is not a database" * 100)
    assert runs(ws) == before


def test_records_added_by_another_process_are_picked_up(ws: Workspace) -> None:
    three_runs(ws)
    other = Workspace.open(ws.root)
    run(other, "d", 1.0)
    assert best_run(ws, PLATFORM)["commit"] == "d"
    assert refresh_index(ws).indexed == 0  # nothing new since


def test_a_deleted_record_file_leaves_the_queries(ws: Workspace) -> None:
    ids = three_runs(ws)
    assert best_run(ws, PLATFORM)["commit"] == "b"
    record_path(ws, ids[1]).unlink()
    assert best_run(ws, PLATFORM)["commit"] == "c"
    assert len(runs(ws)) == 2


def test_a_replaced_corrupt_file_is_ignored_and_named_by_verify(ws: Workspace) -> None:
    ids = three_runs(ws)
    path = record_path(ws, ids[1])
    temp = path.with_name("edit.tmp")
    temp.write_bytes(b'{"kind": "run", "truncated')
    os.replace(temp, path)  # how editors and `sed -i` save
    assert best_run(ws, PLATFORM)["commit"] == "c"
    assert [r["commit"] for r in runs(ws)] == ["a", "c"]
    problems = problems_of(ws)
    assert list(problems) == [ws.relative(path)]
    assert "does not match its name" in problems[ws.relative(path)]


def test_a_hand_edit_in_place_after_indexing_is_never_served(ws: Workspace) -> None:
    ids = three_runs(ws)
    assert best_run(ws, PLATFORM)["commit"] == "b"  # indexed
    path = record_path(ws, ids[2])
    record = json.loads(path.read_bytes())
    record["metrics"]["val_bpb"] = 0.5  # a better number, typed in by hand
    with open(path, "r+b") as handle:  # in place: the folder's time does not change
        handle.write(json.dumps(record, sort_keys=True, separators=(",", ":")).encode())
        handle.truncate()
    assert best_run(ws, PLATFORM)["commit"] == "b"
    assert [r["commit"] for r in runs(ws)] == ["a", "b"]
    assert ws.relative(path) in problems_of(ws)


def test_stray_files_in_the_records_folder_are_named(ws: Workspace) -> None:
    ids = three_runs(ws)
    (records_dir(ws) / "README.txt").write_text("hello")
    (records_dir(ws) / ids[0][:2] / "notes.json").write_text("{}")
    (records_dir(ws) / "zz").mkdir()
    problems = problems_of(ws)
    assert set(problems) == {
        "ledger/records/README.txt",
        f"ledger/records/{ids[0][:2]}/notes.json",
        "ledger/records/zz",
    }
    assert len(runs(ws)) == 3


def test_a_record_in_the_wrong_folder_is_named(ws: Workspace) -> None:
    ids = three_runs(ws)
    path = record_path(ws, ids[0])
    wrong = "00" if ids[0][:2] != "00" else "01"
    (records_dir(ws) / wrong).mkdir(exist_ok=True)
    os.replace(path, records_dir(ws) / wrong / path.name)
    assert "but its name says" in next(iter(problems_of(ws).values()))
    assert len(runs(ws)) == 2


def test_a_stricter_schema_revalidates_every_record(ws: Workspace) -> None:
    three_runs(ws)
    assert len(runs(ws)) == 3
    schema_file = ws.schemas_dir / "run.schema.json"
    schema = json.loads(schema_file.read_text())
    schema["required"].append("seed")
    schema_file.write_text(json.dumps(schema))
    assert runs(ws) == []
    assert all("'seed' is a required property" in p for p in problems_of(ws).values())


def test_temporary_files_of_writes_in_progress_are_invisible(ws: Workspace) -> None:
    ids = three_runs(ws)
    partial = record_path(ws, ids[0]).with_name(f".{ids[0]}.json.123-abcd.tmp")
    partial.write_bytes(b'{"kind":"ru')
    assert len(runs(ws)) == 3
    assert verify(ws) == []
