"""Untrusted names and paths, through the real CLI and the real MCP server.

A git branch or remote name that reads as an option (`--upload-pack=CMD` runs CMD) is refused
before git sees it, and so is a claimledger.toml path that leads out of the workspace.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from mcp.client.session import ClientSession

from tests.test_mcp import CLAIMLEDGER, PLATFORM, call, init_workspace, with_server


def evil_names(marker: Path) -> list[str]:
    """Names that ran `touch marker` through git before they were refused."""
    return [
        f"--upload-pack=touch${{IFS}}{marker};git-upload-pack",
        f"ext::sh -c touch% {marker}",
    ]


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `claimledger` on the workspace at root."""
    return subprocess.run(
        [CLAIMLEDGER, "-C", str(root), *args], capture_output=True, text=True, timeout=120
    )


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def add_run(root: Path, commit: str) -> None:
    """Record one run, so that a sync has a record to commit."""
    done = cli(root, "ledger", "add-run", "--branch", "main", "--commit", commit,
               "--platform", PLATFORM, "--status", "keep", "--val-bpb", "2.5")  # fmt: skip
    assert done.returncode == 0, done.stderr


def remote_branches(remote: Path) -> set[str]:
    return set(git(remote, "for-each-ref", "--format=%(refname)").split())


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A `claimledger init` workspace in a clone of an empty bare remote (tmp/remote.git)."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(tmp_path, "clone", "-q", str(remote), str(tmp_path / "ws"))
    return init_workspace(tmp_path / "ws")


def test_cli_sync_refuses_a_branch_or_remote_that_reads_as_a_git_option(
    clone: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    add_run(clone, "abc1234")
    assert cli(clone, "ledger", "sync", "--branch", "main").returncode == 0  # the first push
    add_run(clone, "def5678")
    head = git(clone, "rev-parse", "HEAD")
    # Each branch twice: once the first call had pushed it, a second one reached `git pull`.
    attempts = [("--branch", name) for name in evil_names(marker) * 2]
    attempts += [("--remote", name) for name in evil_names(marker)]
    results = [
        (option, name, cli(clone, "ledger", "sync", option, name)) for option, name in attempts
    ]
    assert not marker.exists()
    for option, name, done in results:
        assert done.returncode == 2, (option, name, done.stdout, done.stderr)
        assert f"invalid git {option[2:]} name" in done.stderr and name in done.stderr
    assert git(clone, "rev-parse", "HEAD") == head  # nothing committed
    assert remote_branches(tmp_path / "remote.git") == {"refs/heads/main"}


def test_a_valid_branch_still_syncs_even_when_another_branch_ends_with_its_name(
    clone: Path, tmp_path: Path
) -> None:
    add_run(clone, "abc1234")
    for branch in ("research/main", "main"):
        done = cli(clone, "ledger", "sync", "--branch", branch)
        assert done.returncode == 0, done.stderr
    expected = {"refs/heads/research/main", "refs/heads/main"}
    assert remote_branches(tmp_path / "remote.git") == expected


def test_mcp_sync_refuses_a_branch_that_reads_as_a_git_option(clone: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    add_run(clone, "abc1234")

    async def steps(client: ClientSession) -> dict[str, Any]:
        first = await call(client, "sync", branch="main")  # the first push
        add_run(clone, "def5678")
        head = git(clone, "rev-parse", "HEAD")
        attempts = [{"branch": name} for name in evil_names(marker) * 2]
        attempts.append({"remote": evil_names(marker)[0]})
        results = [await client.call_tool("sync", arguments) for arguments in attempts]
        return {"first": first, "results": results, "head": head}

    out = with_server(clone, steps)
    assert out["first"]["committed"] == 1 and out["first"]["branch"] == "main"
    assert not marker.exists()
    for result in out["results"]:
        assert result.is_error, result.structured_content
        assert "InvalidArgumentError: invalid git " in result.content[0].text  # type: ignore[union-attr]
    assert git(clone, "rev-parse", "HEAD") == out["head"]  # nothing committed
    assert git(clone, "status", "--porcelain")  # the second run is still uncommitted
    assert remote_branches(tmp_path / "remote.git") == {"refs/heads/main"}


def set_layout(root: Path, key: str, value: str | list[str]) -> None:
    """Change one [layout] key of the workspace's claimledger.toml."""
    path = root / "claimledger.toml"
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    config["layout"][key] = value
    path.write_text(tomli_w.dumps(config), encoding="utf-8")


NEW_CLAIM = ("new", "claim", "Warmup lowers val_bpb", "--domain", "schedule",
             "--description", "A test claim.", "--source", "the tests")  # fmt: skip


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("claims_dir", "../x"),
        ("claims_dir", "kb/../../x"),
        ("inbox_dir", "{outside}"),
        ("ledger_dir", "../x"),
        ("schemas_dir", "../x"),
        ("cache_dir", "../x"),
        ("claims", ["../x/**/*.md"]),
        ("sources", ["{outside}/**/*.md"]),
    ],
)
def test_a_configured_path_outside_the_workspace_is_refused(
    tmp_path: Path, key: str, value: str | list[str]
) -> None:
    root = init_workspace(tmp_path / "ws")
    outside = tmp_path / "x"
    fill = str(outside)
    set_layout(root, key, [v.format(outside=fill) for v in value] if isinstance(value, list)
               else value.format(outside=fill))  # fmt: skip
    for command in (NEW_CLAIM, ("index",)):
        done = cli(root, *command)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert "claimledger.toml: [layout] " + key in done.stderr, done.stderr
        assert "outside the workspace" in done.stderr
    assert not outside.exists()


@pytest.mark.parametrize("key", ["claims_dir", "ledger_dir", "cache_dir"])
def test_a_configured_folder_that_is_a_symlink_out_of_the_workspace_is_refused(
    tmp_path: Path, key: str
) -> None:
    root = init_workspace(tmp_path / "ws")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "elsewhere").symlink_to(outside, target_is_directory=True)
    set_layout(root, key, "elsewhere")
    for command in (NEW_CLAIM, ("index",)):
        done = cli(root, *command)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert f"[layout] {key} = 'elsewhere' leads through a symlink" in done.stderr
    assert not any(outside.iterdir())
