"""`claimledger init`: make a fresh workspace, or fit a claimledger.toml to an existing vault.

In an existing vault (any markdown file), typed notes are recognised by their `type:`
frontmatter and the claims and sources globs are read off where they are; every markdown file
stays a note of the vault. No existing file is changed and nothing is scaffolded (kb/, inbox/,
ledger/, schemas/, program.md) unless asked; the cache is kept out of git by a .gitignore
inside the cache folder.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import tomli_w

from claimledger.kb.notes import write_text_atomic
from claimledger.schemas import packaged_schema_files
from claimledger.workspace import (
    CONFIG_NAME,
    Config,
    Layout,
    config_to_dict,
    ensure_cache_dir,
    walk_files,
)

TYPE_LINE = re.compile(r"^type:\s*['\"]?(\w+)", re.MULTILINE)
DOMAIN_LINE = re.compile(r"^domain:\s*['\"]?([\w-]+)", re.MULTILINE)
PROGRAM_NAME = "program.md"


@dataclass
class InitResult:
    """What init did."""

    root: Path
    existing_vault: bool
    created: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    claims_found: int = 0
    sources_found: int = 0
    notes_found: int = 0


def init_workspace(root: Path, git: bool = True, scaffold: bool | None = None) -> InitResult:
    """Create a workspace at root, or adopt the vault there with a fitting claimledger.toml.

    `scaffold` (default: only when the folder holds no markdown file) creates kb/, inbox/,
    ledger/, schemas/ and program.md."""
    root.mkdir(parents=True, exist_ok=True)
    scan = scan_vault(root)
    existing = scan.notes > 0
    config = fit_config(scan) if scan.claims + scan.sources else Config()
    result = InitResult(
        root,
        existing,
        claims_found=scan.claims,
        sources_found=scan.sources,
        notes_found=scan.notes,
    )
    result.config = config_to_dict(config)
    _write_config(root, config, result)
    if scaffold or (scaffold is None and not existing):
        _make_folders(root, config.layout, result)
        _write_program(root, result)
        _write_schemas(root / config.layout.schemas_dir, result)
    _ignore_cache(root / config.layout.cache_dir, result)
    if git and not (root / ".git").exists() and shutil.which("git"):
        subprocess.run(["git", "init", "-q", "--", str(root)], check=False)
        result.created.append(".git/")
    return result


@dataclass
class VaultScan:
    """Where the typed notes of an existing vault are."""

    notes: int = 0
    claims: int = 0
    sources: int = 0
    claim_dirs: Counter = field(default_factory=Counter)
    source_dirs: Counter = field(default_factory=Counter)
    domains: Counter = field(default_factory=Counter)


def scan_vault(root: Path) -> VaultScan:
    """Count claims and sources by folder, reading only the start of each .md file."""
    scan = VaultScan()
    for rel in walk_files(root, ""):
        if not rel.endswith(".md"):
            continue
        scan.notes += 1
        head = _head(root / rel)
        match = TYPE_LINE.search(head) if head.startswith("---") else None
        folder = rel.rsplit("/", 1)[0] if "/" in rel else ""
        if match and match.group(1) == "claim":
            scan.claims += 1
            scan.claim_dirs[folder.split("/")[0]] += 1
            domain = DOMAIN_LINE.search(head)
            if domain:
                scan.domains[domain.group(1)] += 1
        elif match and match.group(1) == "source":
            scan.sources += 1
            scan.source_dirs[folder] += 1
    return scan


def _head(path: Path, size: int = 4096) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read(size)
    except OSError:
        return ""


def fit_config(scan: VaultScan) -> Config:
    """A config whose globs cover the folders where the vault's claims and sources are."""
    claim_tops = sorted(scan.claim_dirs)
    source_dirs = sorted(scan.source_dirs)
    layout = replace(
        Layout(),
        claims=tuple(_glob(top) for top in claim_tops) or Layout.claims,
        sources=tuple(_glob(d) for d in _outermost(source_dirs)) or Layout.sources,
        claims_dir=scan.claim_dirs.most_common(1)[0][0] if scan.claim_dirs else "kb",
        inbox_dir=scan.source_dirs.most_common(1)[0][0] if scan.source_dirs else "inbox",
    )
    domains = tuple(sorted(scan.domains)) or Config().domains
    return Config(layout=layout, domains=domains)


def _glob(folder: str) -> str:
    return f"{folder}/**/*.md" if folder else "*.md"


def _outermost(folders: list[str]) -> list[str]:
    """Drop folders that sit inside another listed folder."""
    return [f for f in folders if not any(f != o and f.startswith(o + "/") for o in folders)]


def _write_config(root: Path, config: Config, result: InitResult) -> None:
    path = root / CONFIG_NAME
    if path.exists():
        return
    header = "# claimledger workspace configuration; see docs/workspaces.md (Configuration).\n"
    write_text_atomic(path, header + tomli_w.dumps(config_to_dict(config)))
    result.created.append(CONFIG_NAME)


def _make_folders(root: Path, layout: Layout, result: InitResult) -> None:
    for folder in (
        layout.claims_dir,
        layout.inbox_dir,
        f"{layout.ledger_dir}/records",
        f"{layout.ledger_dir}/proposals",
    ):
        path = root / folder
        if not path.exists():
            path.mkdir(parents=True)
            (path / ".gitkeep").touch()
            result.created.append(folder + "/")


def program_template() -> str:
    """program.md as init writes it: the research loop an agent follows in a workspace."""
    return resources.files("claimledger").joinpath("data", PROGRAM_NAME).read_text("utf-8")


def _write_program(root: Path, result: InitResult) -> None:
    path = root / PROGRAM_NAME
    if not path.exists():
        write_text_atomic(path, program_template())
        result.created.append(PROGRAM_NAME)


def _write_schemas(folder: Path, result: InitResult) -> None:
    for name, data in sorted(packaged_schema_files().items()):
        path = folder / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            result.created.append(f"{folder.name}/{name}")


def _ignore_cache(folder: Path, result: InitResult) -> None:
    """Keep the cache out of git with a .gitignore inside it: the vault's own is not touched."""
    if (folder / ".gitignore").exists():
        return
    ensure_cache_dir(folder)
    result.created.append(f"{folder.name}/.gitignore")
