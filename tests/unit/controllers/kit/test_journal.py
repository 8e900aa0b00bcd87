"""`_kit.journal.Journal`: a bounded map whose changes outlive the process."""

from __future__ import annotations

from pathlib import Path

from recording_operator.controllers._kit.journal import Journal


def test_changes_are_replayed_by_the_next_process(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    first = Journal()
    assert first.open(path) == 0
    first.set("a", {"resourceId": "r1"})
    first.set("b", [1, 2])
    first.set("a", {"resourceId": "r2"})
    assert first.pop("b") == [1, 2]
    assert first.pop("missing") is None
    with path.open("a") as file:
        file.write('{"key": "c", "val')  # a write cut short by a crash
    second = Journal()
    assert second.open(path) == 1
    assert second.get("a") == {"resourceId": "r2"} and "b" not in second and list(second) == ["a"]
    assert len(path.read_text().splitlines()) == 1  # rewritten with the live entry only


def test_bounded_oldest_first_and_compacted(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(size=2)
    journal.open(path)
    for i in range(3 * Journal.COMPACT_AFTER):
        journal.set(f"k{i % 5}", i)
    assert len(journal) == 2
    assert len(path.read_text().splitlines()) <= Journal.COMPACT_AFTER
    reopened = Journal(size=2)
    assert reopened.open(path) == 2
    last = 3 * Journal.COMPACT_AFTER - 1
    assert list(reopened) == [f"k{(last - 1) % 5}", f"k{last % 5}"]
    assert reopened.get(f"k{last % 5}") == last


def test_without_a_file_it_is_memory_only() -> None:
    journal = Journal()
    journal.set("a", 1)
    assert journal.get("a") == 1 and journal.pop("a") == 1 and len(journal) == 0
