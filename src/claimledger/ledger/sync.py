"""sync: share the records folder through a git remote: commit, pull (merge), push, retry.

Every record is its own file with a unique name, so merging two clones' records is a plain
union and never conflicts, whatever order agents sync in. Only sound, new record files are
committed (never other files, never a record edited after it was committed). When another
agent pushed first, the push is rejected; sync then pulls again and retries.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from claimledger.errors import InvalidArgumentError, SyncError
from claimledger.ledger.indexrows import FILE_PATTERN
from claimledger.ledger.queries import known_record_ids
from claimledger.ledger.records import decode_record, schemas_version
from claimledger.ledger.runs import default_agent
from claimledger.ledger.store import is_temp_name, records_dir
from claimledger.workspace import Workspace

LOCK_NAME = "ledger-sync.lock"
RETRYABLE = (
    "rejected",
    "fetch first",
    "non-fast-forward",
    "cannot lock ref",
    "failed to update ref",
)
GIT_TIMEOUT = 600
# The `ext::` transport runs any command; refuse it whatever the repository's config says.
GIT_SAFETY = ("-c", "protocol.ext.allow=never")


@dataclass
class SyncResult:
    """What a sync did: records committed and received, attempts, files left out."""

    remote: str
    branch: str
    committed: int = 0
    received: int = 0
    attempts: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return dict(self.__dict__)


def sync(
    ws: Workspace, remote: str = "origin", branch: str | None = None, attempts: int = 8
) -> SyncResult:
    """Commit new records, merge the remote's, push; retry when another push came first."""
    _check_name(ws, "remote", remote)
    if branch is not None:
        _check_name(ws, "branch", branch)
    repo = _git_root(ws)
    _check_remote(repo, remote)
    branch = branch or _current_branch(repo)
    ws.cache_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(ws.cache_dir / LOCK_NAME):
        before = known_record_ids(ws)
        result = SyncResult(remote=remote, branch=branch)
        result.committed, result.skipped = _commit_new_records(ws, repo)
        for attempt in range(1, attempts + 1):
            result.attempts = attempt
            _pull(repo, remote, branch)
            if _push(repo, remote, branch):
                break
            # Someone pushed in between: back off a little (less herd), then merge theirs.
            time.sleep(random.uniform(0.05, 0.2) * attempt)
        else:
            raise SyncError(f"push to {remote}/{branch} rejected {attempts} times; try again", repo)
        result.received = len(known_record_ids(ws) - before)
    return result


def _git(
    repo: Path, *args: str, check: bool = True, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run git in the repository; a failure becomes SyncError with git's own message."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *GIT_SAFETY, *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=GIT_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SyncError(f"git {args[0]} failed: {exc}", repo) from exc
    if check and done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise SyncError(f"git {' '.join(args[:2])} failed: {' | '.join(message[-3:])}", repo)
    return done


def _git_root(ws: Workspace) -> Path:
    done = _git(ws.root, "rev-parse", "--show-toplevel", check=False)
    if done.returncode != 0:
        raise SyncError(
            "the workspace is not in a git repository (git init, add a remote)", ws.root
        )
    return Path(done.stdout.strip())


def _check_name(ws: Workspace, kind: str, name: str) -> None:
    """Refuse a remote or branch name git itself would refuse: a name such as
    `--upload-pack=CMD` would otherwise reach git as an option and run CMD."""
    if not _valid_name(ws.root, kind, name):
        raise InvalidArgumentError(
            f"invalid git {kind} name {name!r}: it must not start with '-' and must be "
            f"a name git accepts (`git check-ref-format`)"
        )


def _valid_name(folder: Path, kind: str, name: str) -> bool:
    if not name or name.startswith("-") or "\0" in name:
        return False
    if kind == "branch":
        done = _git(folder, "check-ref-format", "--branch", name, check=False)
        # An `@{-1}` form is expanded to another branch: only a plain name is kept as is.
        return done.returncode == 0 and done.stdout.strip() == name
    # git's own rule for remote names (what `git remote add` checks).
    remote_ref = f"refs/remotes/{name}/HEAD"
    return _git(folder, "check-ref-format", remote_ref, check=False).returncode == 0


def _current_branch(repo: Path) -> str:
    # symbolic-ref also names the branch of a repository without commits yet.
    name = _git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
    if not name:
        raise SyncError("no current git branch (detached HEAD?); pass a branch", repo)
    return name


def _check_remote(repo: Path, remote: str) -> None:
    if _git(repo, "remote", "get-url", "--", remote, check=False).returncode != 0:
        raise SyncError(
            f"no git remote {remote!r}: add one with `git remote add {remote} URL`", repo
        )


def _commit_new_records(ws: Workspace, repo: Path) -> tuple[int, list[dict[str, Any]]]:
    """Commit the sound record files git does not track yet; report the ones left out."""
    folder = records_dir(ws)
    if not folder.is_dir():
        return 0, []
    rel = folder.resolve().relative_to(repo.resolve()).as_posix()
    status = _git(repo, "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", rel)
    fingerprint = schemas_version(ws.schemas_dir)
    new, skipped = [], []
    for entry in filter(None, status.stdout.split("\0")):
        code, path = entry[:2], entry[3:]
        if is_temp_name(Path(path).name):
            continue
        problem = _status_problem(ws, repo, code, path, fingerprint)
        if problem:
            skipped.append({"path": path, "problem": problem})
        else:
            new.append(path)
    if new:
        paths = "\0".join(new)
        _git(repo, "add", "--pathspec-from-file=-", "--pathspec-file-nul", stdin=paths)
        _git(repo, *_identity(repo), "commit", "--quiet", "--no-edit", "-m",
             f"ledger: {len(new)} record(s) from {default_agent()}",
             "--pathspec-from-file=-", "--pathspec-file-nul", stdin=paths)  # fmt: skip
    return len(new), skipped


def _status_problem(
    ws: Workspace, repo: Path, code: str, path: str, fingerprint: str
) -> str | None:
    """Why a path that git reports under records/ must not be committed, if it must not."""
    if code in ("??", "A "):  # new, or new and already staged by hand
        return _new_file_problem(ws, repo / path, fingerprint)
    change = "deleted" if "D" in code else "changed"
    return (
        f"{change} after it was committed: records are never edited or deleted "
        f"(`git checkout -- {path}` restores it)"
    )


def _new_file_problem(ws: Workspace, path: Path, fingerprint: str) -> str | None:
    match = FILE_PATTERN.fullmatch(path.name)
    if match is None:
        return "not a record file: names are <sha256 hex>.json"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    return decode_record(match.group(1), data, ws.schemas_dir, fingerprint)[1]


def _identity(repo: Path) -> list[str]:
    """-c options naming the committer when git has no identity configured."""
    if _git(repo, "config", "user.email", check=False).stdout.strip():
        return []
    return ["-c", f"user.name={default_agent()}", "-c", "user.email=claimledger@localhost"]


def _pull(repo: Path, remote: str, branch: str) -> None:
    """Merge the remote branch, if it exists yet; a conflict is undone and reported."""
    # `--` ends git's options; a full ref also never reads as an option (pull hands its
    # arguments to fetch without the `--`) and matches no other branch ending in the name.
    ref = f"refs/heads/{branch}"
    heads = _git(repo, "ls-remote", "--heads", "--", remote, ref)
    if not heads.stdout.strip():
        return  # the first push creates it
    done = _git(
        repo,
        *_identity(repo),
        "pull",
        "--no-rebase",
        "--no-edit",
        "--quiet",
        "--",
        remote,
        ref,
        check=False,
    )
    if done.returncode == 0:
        return
    conflicts = _git(repo, "diff", "--name-only", "--diff-filter=U", check=False).stdout.split()
    if conflicts:
        _git(repo, "merge", "--abort", check=False)
        raise SyncError(
            f"merge conflict outside the records (undone): {', '.join(conflicts)}", repo
        )
    message = (done.stderr or done.stdout).strip().splitlines()
    raise SyncError(f"git pull failed: {' | '.join(message[-3:])}", repo)


def _push(repo: Path, remote: str, branch: str) -> bool:
    """Push; False when the remote moved on since the pull (retry), SyncError otherwise."""
    done = _git(repo, "push", "--quiet", "--", remote, f"HEAD:refs/heads/{branch}", check=False)
    if done.returncode == 0:
        return True
    if any(word in done.stderr for word in RETRYABLE):
        return False
    raise SyncError(f"git push failed: {done.stderr.strip().splitlines()[-1:]}", repo)
