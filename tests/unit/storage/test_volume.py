"""Path safety of `delete-volume-file` (storage/volume.py) on a real directory tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recording_operator.cli import app
from recording_operator.storage.volume import Outcome, UnsafePath, delete_under, path_parts


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """`claim/team/rec/a.mp4`, `claim/team/rec/b.mp4` and `outside/secret.mp4` next to the claim."""
    root = tmp_path / "claim"
    (root / "team" / "rec").mkdir(parents=True)
    for name in ("a.mp4", "b.mp4"):
        (root / "team" / "rec" / name).write_bytes(b"x" * 100)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.mp4").write_bytes(b"keep me")
    return root


def test_deletes_only_the_named_file_and_keeps_directories(tree: Path) -> None:
    assert delete_under(tree, "team/rec/a.mp4") is Outcome.DELETED
    assert not (tree / "team" / "rec" / "a.mp4").exists()
    assert (tree / "team" / "rec" / "b.mp4").is_file()
    assert delete_under(tree, "team/rec/b.mp4") is Outcome.DELETED
    assert (tree / "team" / "rec").is_dir()  # shared prefix directories are never removed


def test_an_already_missing_file_or_directory_counts_as_done(tree: Path) -> None:
    assert delete_under(tree, "team/rec/never.mp4") is Outcome.MISSING
    assert delete_under(tree, "no/such/dir/x.mp4") is Outcome.MISSING
    assert delete_under(tree, "team//rec/a.mp4") is Outcome.DELETED  # empty components are ignored
    assert delete_under(tree, "team/rec/a.mp4") is Outcome.MISSING


@pytest.mark.parametrize(
    "path",
    ["", "/etc/passwd", "../outside/secret.mp4", "team/../../outside/secret.mp4", "./team", "a\x00b", "/"],
)
def test_escaping_or_malformed_paths_are_refused(tree: Path, path: str) -> None:
    with pytest.raises(UnsafePath):
        delete_under(tree, path)
    assert (tree.parent / "outside" / "secret.mp4").read_bytes() == b"keep me"


def test_a_directory_link_is_refused_even_when_it_stays_inside(tree: Path) -> None:
    os.symlink(tree.parent / "outside", tree / "out")
    os.symlink(tree / "team", tree / "alias")
    with pytest.raises(UnsafePath, match="symbolic link"):
        delete_under(tree, "out/secret.mp4")
    with pytest.raises(UnsafePath, match="symbolic link"):
        delete_under(tree, "alias/rec/a.mp4")
    assert (tree.parent / "outside" / "secret.mp4").exists() and (tree / "team" / "rec" / "a.mp4").exists()


def test_a_file_link_leading_out_is_refused_and_one_inside_is_removed_itself(tree: Path) -> None:
    os.symlink(tree.parent / "outside" / "secret.mp4", tree / "team" / "rec" / "evil.mp4")
    with pytest.raises(UnsafePath, match="leading out"):
        delete_under(tree, "team/rec/evil.mp4")
    os.symlink(tree / "team" / "rec" / "b.mp4", tree / "team" / "rec" / "link.mp4")
    assert delete_under(tree, "team/rec/link.mp4") is Outcome.DELETED
    assert not (tree / "team" / "rec" / "link.mp4").is_symlink()
    assert (tree / "team" / "rec" / "b.mp4").is_file()  # the target is untouched


def test_directories_and_files_on_the_way_are_errors(tree: Path) -> None:
    with pytest.raises(IsADirectoryError):
        delete_under(tree, "team/rec")
    with pytest.raises(NotADirectoryError):
        delete_under(tree, "team/rec/a.mp4/x")


def test_path_parts_normalises_only_harmless_forms() -> None:
    assert path_parts("a//b/") == ["a", "b"]
    assert path_parts("-rf") == ["-rf"]


def test_cli_exit_codes(tree: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["delete-volume-file", "--root", str(tree), "--path", "team/rec/a.mp4"])
    assert ok.exit_code == 0 and "deleted" in ok.output
    again = runner.invoke(app, ["delete-volume-file", "--root", str(tree), "--path", "team/rec/a.mp4"])
    assert again.exit_code == 0 and "missing" in again.output
    refused = runner.invoke(
        app, ["delete-volume-file", "--root", str(tree), "--path", "../outside/secret.mp4"]
    )
    assert refused.exit_code == 2 and "refused" in refused.output
    failed = runner.invoke(app, ["delete-volume-file", "--root", str(tree), "--path", "team"])
    assert failed.exit_code == 1 and "cannot delete" in failed.output
