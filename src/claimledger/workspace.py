"""Workspace root discovery, claimledger.toml configuration and the paths of every part.

A workspace is a folder (usually a git repository) that holds research data. Its layout is
set by an optional `claimledger.toml` at the root; without one the defaults below apply.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from claimledger.errors import ConfigError, WorkspaceNotFoundError

CONFIG_NAME = "claimledger.toml"
ENV_WORKSPACE = "CLAIMLEDGER_WORKSPACE"
DEFAULT_DOMAINS = (
    "optimizer",
    "schedule",
    "architecture",
    "scaling",
    "data",
    "evaluation",
    "systems",
)
# A glob of the form `folder/**/*suffix` (or `**/*suffix`), with no wildcard in the folder or
# the suffix.
SUFFIX_GLOB = re.compile(r"(?:([^*?\[\]]+)/)?\*\*/\*([^*?\[\]/]*)\Z")
# Folders never walked for notes: editor state, VCS, caches, virtual environments.
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__"})
# The [layout] keys that name one folder each.
FOLDER_KEYS = ("claims_dir", "inbox_dir", "ledger_dir", "schemas_dir", "cache_dir")
# Kinds of vault file besides the note roles (see Workspace.vault_entry).
ATTACHMENT, SYMLINK = "attachment", "symlink"


@dataclass(frozen=True)
class Layout:
    """Where each kind of file lives, relative to the workspace root.

    `notes` is the vault: every markdown file it matches is a note for links and backlinks,
    and every other file in the folders walked for it is an attachment that links may name.
    `claims` and `sources` classify notes (a claim or source file is a note even when `notes`
    does not match it); they do not bound the vault."""

    claims: tuple[str, ...] = ("kb/**/*.md",)
    sources: tuple[str, ...] = ("inbox/**/*.md",)
    notes: tuple[str, ...] = ("**/*.md",)
    exclude: tuple[str, ...] = ()
    claims_dir: str = "kb"
    inbox_dir: str = "inbox"
    ledger_dir: str = "ledger"
    schemas_dir: str = "schemas"
    cache_dir: str = ".claimledger"


@dataclass(frozen=True)
class Config:
    """The parsed claimledger.toml: the layout, the domain list and free-form sections."""

    layout: Layout = field(default_factory=Layout)
    domains: tuple[str, ...] = DEFAULT_DOMAINS
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def section(self, name: str) -> dict[str, Any]:
        """A table of claimledger.toml that a later part owns (e.g. `worker`), or {}."""
        return self.sections.get(name, {})


def load_config(path: Path) -> Config:
    """Read a claimledger.toml; an absent file gives the defaults."""
    if not path.exists():
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"invalid TOML: {exc}", path) from exc
    return config_from_dict(data, path)


def config_from_dict(data: dict[str, Any], path: Path | None = None) -> Config:
    """Build a Config from a TOML-shaped dict, rejecting unknown layout keys."""
    layout_data = dict(data.get("layout", {}))
    known = {f.name for f in fields(Layout)}
    unknown = sorted(set(layout_data) - known)
    if unknown:
        raise ConfigError(f"unknown [layout] keys: {', '.join(unknown)}", path)
    for key in ("claims", "sources", "notes", "exclude"):
        if key in layout_data:
            layout_data[key] = tuple(_string_list(layout_data[key], f"layout.{key}", path))
    domains = data.get("kb", {}).get("domains", list(DEFAULT_DOMAINS))
    sections = {k: v for k, v in data.items() if k not in ("layout",) and isinstance(v, dict)}
    return Config(
        layout=Layout(**layout_data),
        domains=tuple(_string_list(domains, "kb.domains", path)),
        sections=sections,
    )


def config_to_dict(config: Config) -> dict[str, Any]:
    """The TOML-shaped dict of a Config (inverse of config_from_dict)."""
    layout = {f.name: getattr(config.layout, f.name) for f in fields(Layout)}
    layout = {k: list(v) if isinstance(v, tuple) else v for k, v in layout.items()}
    data: dict[str, Any] = {"layout": layout}
    data.update(config.sections)
    data["kb"] = {**config.section("kb"), "domains": list(config.domains)}
    return data


def _string_list(value: Any, key: str, path: Path | None) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a list of strings", path)
    return value


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob with `**` (any folders, including none), `*` and `?` to a regex."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def any_glob(patterns: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching a path that any of the globs matches; None for no globs."""
    parts = [f"(?:{glob_to_regex(p).pattern})" for p in patterns]
    return re.compile("|".join(parts)) if parts else None


def _suffix_globs(patterns: Iterable[str]) -> dict[str, str] | None:
    """{folder: suffix} when every glob is `folder/**/*suffix` with its own folder, none inside
    another: a file walked from a folder then matches exactly when its name has the suffix."""
    found: dict[str, str] = {}
    for pattern in patterns:
        match = SUFFIX_GLOB.match(pattern)
        if match is None or match.group(1) in found:
            return None
        found[match.group(1) or ""] = match.group(2)
    nested = any(_inside(a, b) for a in found for b in found)
    return None if nested or not found else found


def _inside(folder: str, other: str) -> bool:
    """Whether `folder` lies strictly inside `other` (both relative, posix; "" is the root)."""
    return folder != other and (other == "" or folder.startswith(other + "/"))


def path_matcher(patterns: Iterable[str]) -> Callable[[str], bool]:
    """A test of whether a relative path matches any of the globs, without a regex for the
    common `folder/**/*suffix` globs (it runs once per file of the vault)."""
    matches = [SUFFIX_GLOB.match(p) for p in patterns]
    if not matches or not all(matches):
        regex = any_glob(patterns)
        return (lambda rel: regex.match(rel) is not None) if regex else (lambda rel: False)
    pairs = tuple((f"{m.group(1)}/" if m.group(1) else "", m.group(2)) for m in matches if m)
    if len(pairs) == 1:
        prefix, suffix = pairs[0]
        return lambda rel: rel.endswith(suffix) and rel.startswith(prefix)
    return lambda rel: any(rel.endswith(x) and rel.startswith(p) for p, x in pairs)


def _literal_prefix(pattern: str) -> str:
    """The folder part of a glob before its first wildcard: where a walk must start."""
    parts = []
    for part in pattern.split("/")[:-1]:
        if any(c in part for c in "*?["):
            break
        parts.append(part)
    return "/".join(parts)


def walk_files(
    root: Path,
    start: str,
    refused: list[str] | None = None,
    skip: Iterable[str] = (),
    links: list[str] | None = None,
) -> list[str]:
    """Relative posix paths of the files under root/start, skipping hidden folders and the
    folders in `skip` (relative posix paths).

    Symlinked folders are not walked. A symlink is listed (and added to `links`) only when it
    leads to a file that the walk could list itself (see link_stays_inside); one that leads
    elsewhere is never listed, so never read, and is added to `refused`."""
    # Plain strings, not pathlib: this runs once per file of a 25,000-note vault.
    found: list[str] = []
    base = str(root)
    stack = [os.path.join(base, start) if start else base]
    cut = len(base) + 1
    real_root = ""  # resolved at the first symlink: most vaults have none
    skipped = {os.path.join(base, *folder.split("/")) for folder in skip if folder}
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIPPED_DIRS and entry.path not in skipped:
                    stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                found.append(entry.path[cut:].replace(os.sep, "/"))
            elif entry.is_symlink():
                real_root = real_root or os.path.realpath(base)
                if not link_stays_inside(entry.path, real_root):
                    if refused is not None:
                        refused.append(entry.path[cut:].replace(os.sep, "/"))
                elif entry.is_file():  # another note of the workspace: fine to read
                    found.append(entry.path[cut:].replace(os.sep, "/"))
                    if links is not None:
                        links.append(found[-1])
    return found


def link_stays_inside(path: str, real_root: str) -> bool:
    """Whether the symlink `path` resolves inside `real_root` (a resolved workspace root), and
    not into a hidden or skipped folder of it: notes come from collaborators, and a link to
    /proc/self/environ, ~/.ssh or .git/config must not become a searchable, published note."""
    try:
        rel = os.path.relpath(os.path.realpath(path), real_root)
    except ValueError:  # another drive (Windows)
        return False
    parts = rel.split(os.sep)
    return not any(part.startswith(".") or part in SKIPPED_DIRS for part in parts)


def check_layout(root: Path, layout: Layout) -> None:
    """Refuse a [layout] folder or glob that leads outside the workspace (an absolute path,
    `..`, or a symlink out of it): whoever can edit claimledger.toml must not make
    claimledger write or read files elsewhere."""
    top = root.resolve()
    for key, value, folder in _layout_folders(layout):
        problem = _escape_problem(top, value, folder)
        if problem:
            raise ConfigError(
                f"[layout] {key} = {value!r} {problem}, outside the workspace: configured "
                "paths must stay inside it",
                root / CONFIG_NAME,
            )


def _escape_problem(top: Path, value: str, folder: str) -> str | None:
    """How a configured path (whose folder part is `folder`) leaves the root `top`, if it does."""
    if Path(value).is_absolute() or ".." in re.split(r"[/\\]", value):
        return "is absolute or climbs out with `..`"
    try:
        target = (top / folder).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL byte
        return f"cannot be resolved ({exc})"
    return None if target.is_relative_to(top) else f"leads through a symlink to {target}"


def _layout_folders(layout: Layout) -> Iterator[tuple[str, str, str]]:
    """(key, value, folder) for every [layout] folder, and the folder part of every claims
    and sources glob: the places claimledger writes to or walks."""
    for key in FOLDER_KEYS:
        value = getattr(layout, key)
        yield key, value, value
    for key in ("claims", "sources", "notes"):
        for pattern in getattr(layout, key):
            yield key, pattern, _literal_prefix(pattern)


CACHE_GITIGNORE = "# Created by claimledger: a rebuildable cache.\n*\n"


def ensure_cache_dir(folder: Path) -> Path:
    """Create a cache folder with its own .gitignore (`*`), unless it has one."""
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        try:
            with open(ignore, "x", encoding="utf-8") as handle:
                handle.write(CACHE_GITIGNORE)
        except FileExistsError:  # another process wrote it first
            pass
    return folder


def find_root(start: Path | None = None) -> Path:
    """The workspace root at or above `start`: the first folder with claimledger.toml,
    or with both a kb/ and a ledger/ folder (the default layout)."""
    env = os.environ.get(ENV_WORKSPACE)
    here = Path(env if env and start is None else (start or Path.cwd())).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
        if (folder / "kb").is_dir() and (folder / "ledger").is_dir():
            return folder
    raise WorkspaceNotFoundError(
        "not inside a claimledger workspace (no claimledger.toml, no kb/ + ledger/); "
        "run `claimledger init` or pass --workspace",
        here,
    )


@dataclass(frozen=True)
class VaultFiles:
    """The files of the vault: notes (path -> role) and attachments (paths), sorted, and
    whether any of them is a symlink (a file watcher does not see its target change)."""

    notes: dict[str, str]
    attachments: list[str]
    symlinked: bool = False


@dataclass
class Workspace:
    """A workspace root with its configuration; every part takes its paths from here."""

    root: Path
    config: Config = field(default_factory=Config)

    def __post_init__(self) -> None:
        check_layout(self.root, self.config.layout)

    @classmethod
    def open(cls, start: Path | str | None = None) -> Workspace:
        """Find the root at or above `start` (default: cwd) and read its configuration."""
        root = find_root(Path(start) if start is not None else None)
        return cls(root=root, config=load_config(root / CONFIG_NAME))

    def path(self, name: str) -> Path:
        """An absolute path for a layout folder name such as `ledger_dir`."""
        return self.root / getattr(self.config.layout, name)

    @property
    def cache_dir(self) -> Path:
        return self.path("cache_dir")

    def ensure_cache_dir(self) -> Path:
        """The cache folder, created with a .gitignore of its own that ignores it all (as
        pytest and ruff do), so that no file of the workspace needs changing."""
        return ensure_cache_dir(self.cache_dir)

    @property
    def claims_dir(self) -> Path:
        return self.path("claims_dir")

    @property
    def inbox_dir(self) -> Path:
        return self.path("inbox_dir")

    @property
    def ledger_dir(self) -> Path:
        return self.path("ledger_dir")

    @property
    def schemas_dir(self) -> Path:
        return self.path("schemas_dir")

    @cached_property
    def _exclude(self) -> re.Pattern[str] | None:
        return any_glob(self.config.layout.exclude)

    def _matching(self, patterns: tuple[str, ...], refused: list[str] | None = None) -> list[str]:
        included = any_glob(patterns)
        excluded = self._exclude
        suffixes = _suffix_globs(patterns)
        if suffixes is not None:  # the common layout, matched without the regex
            found = [
                rel
                for start, suffix in suffixes.items()
                for rel in walk_files(self.root, start, refused)
                if rel.endswith(suffix) and not (excluded and excluded.match(rel))
            ]
            return sorted(found)
        starts = sorted({_literal_prefix(p) for p in patterns})
        # A start inside another start would list its files twice.
        starts = [s for s in starts if not any(_inside(s, o) for o in starts)]
        if "" in starts:
            starts = [""]
        result = set()
        for start in starts:
            for rel in walk_files(self.root, start, refused):
                if included and included.match(rel) and not (excluded and excluded.match(rel)):
                    result.add(rel)
        return sorted(result)

    def claim_files(self) -> list[str]:
        """Relative paths of the files matched by the claims globs."""
        return self._matching(self.config.layout.claims)

    def source_files(self) -> list[str]:
        """Relative paths of the files matched by the sources globs."""
        return self._matching(self.config.layout.sources)

    def refused_links(self) -> list[str]:
        """The symlinks in the vault that lead out of the workspace (see walk_files)."""
        refused: list[str] = []
        self.vault_files(refused)
        excluded = self._exclude
        return sorted({rel for rel in refused if not (excluded and excluded.match(rel))})

    def note_files(self) -> dict[str, str]:
        """Every note of the vault with its role: `source` or `claim` where those globs match
        it (sources win ties), else `note`."""
        return self.vault_files().notes

    def vault_files(self, refused: list[str] | None = None) -> VaultFiles:
        """The vault in one walk: its notes by role and its other files (attachments).

        The ledger and cache folders are not walked: they hold no notes, and a ledger holds
        many thousands of records."""
        kind_of = self._file_kind()
        notes: dict[str, str] = {}
        attachments: list[str] = []
        links: list[str] = []
        for start in self._walk_starts:
            for rel in walk_files(self.root, start, refused, self._walk_skips, links):
                kind = kind_of(rel)
                if kind == ATTACHMENT:
                    attachments.append(rel)
                elif kind is not None:
                    notes[rel] = kind
        return VaultFiles(dict(sorted(notes.items())), sorted(attachments), bool(links))

    def vault_entry(self, rel: str) -> str | None:
        """What vault_files would make of the one file at `rel`: its role, ATTACHMENT,
        SYMLINK (a symlink, which only a full walk judges), or None when the walk would not
        list it (it is gone, hidden, excluded, or outside the folders walked)."""
        parts = rel.split("/")
        if any(part in ("", "..") or part.startswith(".") for part in parts):
            return None
        if any(part in SKIPPED_DIRS for part in parts[:-1]):
            return None
        if any(_inside(rel, skip) for skip in self._walk_skips):
            return None
        if not any(start == "" or _inside(rel, start) for start in self._walk_starts):
            return None
        folder = os.path.join(self.root, *parts[:-1])
        real_folder = os.path.join(os.path.realpath(self.root), *parts[:-1])
        if os.path.realpath(folder) != real_folder:  # a symlinked folder, which is not walked
            return None
        try:
            mode = os.lstat(os.path.join(folder, parts[-1])).st_mode
        except OSError:
            return None
        if stat.S_ISLNK(mode):
            return SYMLINK
        return self._file_kind()(rel) if stat.S_ISREG(mode) else None

    @cached_property
    def _walk_starts(self) -> list[str]:
        """The folders that vault_files walks: where its globs' literal prefixes lead, none
        inside another."""
        layout = self.config.layout
        patterns = (*layout.notes, *layout.claims, *layout.sources)
        starts = sorted({_literal_prefix(p) for p in patterns})
        return [s for s in starts if not any(_inside(s, o) for o in starts)]

    @property
    def _walk_skips(self) -> list[str]:
        return [self.config.layout.ledger_dir, self.config.layout.cache_dir]

    def _file_kind(self) -> Callable[[str], str | None]:
        """The kind of a walked file: its note role, ATTACHMENT, or None when excluded."""
        layout = self.config.layout
        is_note, is_claim = path_matcher(layout.notes), path_matcher(layout.claims)
        is_source, excluded = path_matcher(layout.sources), self._exclude

        def kind(rel: str) -> str | None:
            if excluded and excluded.match(rel):
                return None
            if is_source(rel):
                return "source"
            if is_claim(rel):
                return "claim"
            if rel.endswith(".md"):
                return "note" if is_note(rel) else None
            return ATTACHMENT

        return kind

    def relative(self, path: Path | str) -> str:
        """A path relative to the root, in posix form (as stored in indexes and records)."""
        return Path(path).resolve().relative_to(self.root.resolve()).as_posix()
