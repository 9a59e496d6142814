"""MCP tools that read: claims, their links and neighbourhood, the brief, the leaderboard,
the best config of a platform and the planner's proposals.

Each method is one tool: its docstring is the tool's description, its typed parameters the
tool's input schema. They call the library and return JSON-ready dicts; they write nothing
but the rebuildable index cache.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import Field

from claimledger.kb.queries import MAX_QUERY_BYTES, MAX_QUERY_TERMS
from claimledger.workspace import Workspace

Platform = Annotated[
    str | None,
    Field(
        description="Platform id, e.g. cpu-2core-tok200K (device + budget); results are only "
        "comparable within one. Default: the planner's platform."
    ),
]
ClaimName = Annotated[
    str,
    Field(description="A claim's title (case-insensitive), alias, or path like kb/x/Title.md."),
]


def jsonable(value: Any) -> Any:
    """The value with dates, paths and other objects turned into JSON types."""
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def short_run(run: dict[str, Any]) -> dict[str, Any]:
    """The fields of a run record an agent compares runs by."""
    keys = ("id", "branch", "commit", "platform", "status", "agent", "seed", "description")
    short = {k: run.get(k) for k in keys if run.get(k) is not None}
    short["val_bpb"] = (run.get("metrics") or {}).get("val_bpb")
    short["config_diff"] = run.get("config_diff") or {}
    return short


class ReadTools:
    """The reading tools of the MCP server; `ws` is the workspace it serves."""

    ws: Workspace
    agent: str

    def _platform(self, platform: str | None) -> str:
        from claimledger.planner.plan import default_platform

        return platform or default_platform(self.ws)

    def search_claims(
        self,
        query: Annotated[
            str,
            Field(
                max_length=MAX_QUERY_BYTES,
                description="Words to find, e.g. 'warmup learning rate' (all required; the "
                f"first {MAX_QUERY_TERMS} distinct words count).",
            ),
        ],
        limit: Annotated[int, Field(ge=1, le=100, description="Most results.")] = 10,
        domain: Annotated[str | None, Field(description="Only claims of this domain.")] = None,
    ) -> dict[str, Any]:
        """Full-text search over the claims (titles, descriptions, bodies), best match first.

        Returns each hit's title, path, domain, confidence, status and a [matched] snippet,
        and a `note` when words of the query were left out. Use read_claim on a title to see
        the whole argument."""
        from claimledger.kb import open_index, query_note, search_notes

        note = query_note(query)
        with open_index(self.ws) as conn:
            hits = search_notes(conn, query, limit, "claim", domain)
        return {"results": jsonable(hits), "count": len(hits), **({"note": note} if note else {})}

    def read_claim(self, title: ClaimName) -> dict[str, Any]:
        """Read one claim: its frontmatter (confidence, effect, provenance ...), its body, the
        [[links]] it makes (with where each resolves) and its backlinks (who cites it)."""
        from claimledger.kb import open_index, show_note

        with open_index(self.ws) as conn:
            return jsonable(show_note(self.ws, conn, title))

    def neighbourhood(
        self,
        title: ClaimName,
        hops: Annotated[int, Field(ge=1, le=3, description="Radius in links.")] = 1,
    ) -> dict[str, Any]:
        """The notes within `hops` links of a claim, either direction, with the typed edges
        between them (link, depends_on, challenged_by, source-of): what a claim leans on and
        what leans on it."""
        from claimledger.kb import build_graph, find_note, neighbourhood, open_index

        with open_index(self.ws) as conn:
            centre = find_note(conn, title)["path"]
            graph = neighbourhood(build_graph(conn), centre, hops)
        nodes = [{"path": node, **data} for node, data in sorted(graph.nodes(data=True))]
        edges = [
            {"source": u, "target": v, "kind": kind}
            for u, v, kind in sorted(graph.edges(data="kind"), key=lambda e: (e[0], e[1], e[2]))
        ]
        return jsonable({"centre": centre, "hops": hops, "nodes": nodes, "edges": edges})

    def brief(
        self,
        platform: Platform = None,
        topic: Annotated[
            str | None, Field(description="Rank claims mentioning this word higher.")
        ] = None,
        max_tokens: Annotated[int, Field(ge=50, le=20000, description="Token budget.")] = 1500,
    ) -> dict[str, Any]:
        """What to read before the next run, within a token budget: the best run and config on
        the platform with its noise floor, the most relevant claims, open challenges, claims
        under review, proposals leased by others and open ones. Start every iteration here.
        `text` holds the brief as markdown; `sections` the same lines by section."""
        from claimledger.planner import build_brief, render_brief

        result = build_brief(self.ws, self._platform(platform), topic, max_tokens)
        return jsonable({**result, "text": render_brief(result)})

    def leaderboard(
        self,
        platform: Annotated[
            str | None,
            Field(description="One platform: the best run of each branch on it. Default: all."),
        ] = None,
        top: Annotated[int, Field(ge=1, le=100, description="Leaderboard length.")] = 10,
    ) -> dict[str, Any]:
        """The best kept runs (lowest val_bpb; crashes never count): with a platform, the
        best run of each branch there; without, the best run on every platform."""
        from claimledger.ledger import best_run, leaderboard, platforms

        if platform:
            found = leaderboard(self.ws, platform, top)
        else:
            found = [r for p in platforms(self.ws) if (r := best_run(self.ws, p))][:top]
        return {"runs": jsonable([short_run(r) for r in found]), "count": len(found)}

    def best_config(
        self,
        platform: Platform = None,
        branch: Annotated[str | None, Field(description="Only this research branch.")] = None,
    ) -> dict[str, Any]:
        """The config of the best kept run on a platform (and branch): its full config and
        `set`, the changes from the trainer defaults, ready to pass to the run tool."""
        from claimledger.ledger import best_run
        from claimledger.trainer import trainer_defaults

        platform = self._platform(platform)
        best = best_run(self.ws, platform, branch)
        if best is None:
            return {"platform": platform, "run": None, "set": {}, "note": "no kept run yet"}
        defaults = trainer_defaults()
        config = best.get("config") or {}
        changes = {k: v for k, v in config.items() if defaults.get(k) != v}
        return jsonable({**short_run(best), "run": best["id"], "config": config, "set": changes})

    def list_proposals(
        self,
        status: Annotated[
            Literal["open", "answered", "all"], Field(description="Which proposals.")
        ] = "open",
        platform: Annotated[str | None, Field(description="Only this platform.")] = None,
    ) -> dict[str, Any]:
        """The planner's proposals in ledger/proposals/: each one config change (`set`), the
        claims it tests, the expected effect, why it is worth a run, and who leases it now."""
        from claimledger.ledger import active_leases
        from claimledger.planner import list_proposals

        leases = {lease["proposal"]: lease for lease in active_leases(self.ws)}
        found = []
        for proposal in list_proposals(self.ws, None if status == "all" else status):
            if platform and proposal.platform != platform:
                continue
            lease = leases.get(proposal.id)
            holder = {"agent": lease["agent"], "until": lease["until"]} if lease else None
            found.append({**proposal.to_dict(), "leased_by": holder})
        return {"proposals": jsonable(found), "count": len(found)}
