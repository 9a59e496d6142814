"""The worker's settings: the `[inbox]` table of claimledger.toml with defaults and checks."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

from claimledger.errors import ConfigError
from claimledger.workspace import CONFIG_NAME, Workspace

ENV_MODEL = "CLAIMLEDGER_LLM_MODEL"
ENV_API_BASE = "CLAIMLEDGER_LLM_API_BASE"
SIMILARITY_BACKENDS = ("embedding", "lexical")


@dataclass(frozen=True)
class Settings:
    """Every knob of the inbox worker; see docs/inbox.md."""

    extractor: str = "offline"
    lease_seconds: float = 600.0
    max_attempts: int = 3
    similarity: str = "embedding"  # "lexical" needs no model: for tests and tiny machines
    duplicate_threshold: float = 0.88  # at or above: enrich the existing claim
    review_threshold: float = 0.7  # at or above (below duplicate): flag possible-duplicate
    link_threshold: float = 0.35  # at or above: link the new claim to the existing one
    max_claims: int = 5  # per source, every extractor: the excess is dropped
    max_title_bytes: int = 1_000  # of a proposed title (UTF-8), before it is cleaned
    max_body_bytes: int = 20_000  # of a proposed body, description or evidence (UTF-8)
    related_claims: int = 5  # similar existing claims shown to the LLM and linked
    model: str | None = None
    api_base: str | None = None
    concurrency: int = 4
    timeout: float = 60.0
    retries: int = 4
    backoff: float = 1.0  # seconds; doubles per retry
    temperature: float = 0.0

    @classmethod
    def from_workspace(cls, ws: Workspace, **overrides: Any) -> Settings:
        """The `[inbox]` table merged over the defaults, then env, then `overrides`."""
        table = dict(ws.config.section("inbox"))
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(f"unknown [inbox] keys: {', '.join(unknown)}", CONFIG_NAME)
        settings = cls(**table)
        env = {"model": os.environ.get(ENV_MODEL), "api_base": os.environ.get(ENV_API_BASE)}
        settings = replace(settings, **{k: v for k, v in env.items() if v and not table.get(k)})
        settings = replace(settings, **{k: v for k, v in overrides.items() if v is not None})
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse settings that cannot work, naming the key."""
        if self.similarity not in SIMILARITY_BACKENDS:
            raise ConfigError(f"inbox.similarity must be one of {SIMILARITY_BACKENDS}", CONFIG_NAME)
        if not 0 < self.review_threshold <= self.duplicate_threshold <= 1:
            raise ConfigError(
                "need 0 < inbox.review_threshold <= inbox.duplicate_threshold <= 1", CONFIG_NAME
            )
        if self.max_attempts < 1 or self.concurrency < 1 or self.lease_seconds <= 0:
            raise ConfigError(
                "inbox.max_attempts, concurrency and lease_seconds must be positive", CONFIG_NAME
            )
        if min(self.max_claims, self.max_title_bytes, self.max_body_bytes) < 1:
            raise ConfigError(
                "inbox.max_claims, max_title_bytes and max_body_bytes must be positive",
                CONFIG_NAME,
            )
