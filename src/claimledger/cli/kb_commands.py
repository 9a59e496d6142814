"""Knowledge-base commands: init, index, lint, show, search, graph, new."""

from __future__ import annotations

COMMANDS: list = []
