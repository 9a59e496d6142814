"""MCP tools that act on the ledger: plan proposals, lease one, run the trainer, record a run
done elsewhere, sync the records with a git remote.

Every record is written by the ledger library (immutable, named by its hash); runs go through
`research.run`, as `claimledger run` and the loop do, so a run made here is the same as one there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from pydantic import Field

from claimledger.errors import ClaimledgerError
from claimledger.mcp.reading import Platform, jsonable
from claimledger.workspace import Workspace

Scalar = str | int | float | bool
PROGRESS_SECONDS = 2.0
ProposalId = Annotated[str, Field(description="A proposal id, e.g. 20261123-1a2b3c4d.")]


def progress_reporter(ctx: Context, every: float = PROGRESS_SECONDS) -> Callable[[int, str], None]:
    """A trainer progress callback that sends the client MCP progress notifications (at most
    one per `every` seconds), so that a long run shows it is alive."""
    import anyio.from_thread
    import anyio.lowlevel

    # Built in the tool's worker thread, called from the trainer's output-reader thread: the
    # event loop that owns the session is reached through its token.
    loop = anyio.from_thread.run_sync(anyio.lowlevel.current_token)
    sent = {"count": 0, "at": 0.0}

    def report(seed: int, line: str) -> None:
        if not line.startswith("step ") or time.monotonic() - sent["at"] < every:
            return
        sent["count"] += 1
        sent["at"] = time.monotonic()
        message = f"seed {seed}: {line}"
        anyio.from_thread.run(ctx.report_progress, sent["count"], None, message, token=loop)

    return report


class ActTools:
    """The ledger tools of the MCP server; `ws` is the workspace, `agent` who acts."""

    ws: Workspace
    agent: str

    def plan(
        self,
        platform: Platform = None,
        n: Annotated[int, Field(ge=1, le=20, description="How many proposals.")] = 1,
        strategy: Annotated[
            Literal["claims", "tpe", "random"],
            Field(description="claims: test what the claims predict; tpe / random: baselines."),
        ] = "claims",
        seed: Annotated[int, Field(description="Seed of the strategy's random choices.")] = 0,
    ) -> dict[str, Any]:
        """Write up to n new experiment proposals to ledger/proposals/ and return them. Never
        proposes what the ledger already answered or what another agent leases. Take one with
        lease_proposal, then run it with the run tool."""
        from claimledger.planner import plan

        proposals = plan(self.ws, platform, n, strategy, seed=seed)
        return {"proposals": jsonable([p.to_dict() for p in proposals]), "count": len(proposals)}

    def lease_proposal(
        self,
        proposal: ProposalId,
        minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60, description="Lease length.")] = 120,
        release: Annotated[bool, Field(description="Give the proposal back instead.")] = False,
        note: Annotated[str | None, Field(max_length=500, description="A note.")] = None,
    ) -> dict[str, Any]:
        """Take a proposal so that no other agent runs it meanwhile (a lease record in the
        ledger); taking it again renews it. Fails when another agent holds it: pick another
        proposal or plan a new one. release=true gives it back."""
        from claimledger.ledger import lease_holder, release_lease, take_lease
        from claimledger.planner import read_proposal

        pid = read_proposal(self.ws, proposal).id  # refuse leases on things that do not exist
        if release:
            return {"proposal": pid, "released": release_lease(self.ws, pid, self.agent)}
        record = take_lease(self.ws, pid, self.agent, timedelta(minutes=minutes), note)
        holder = lease_holder(self.ws, pid) or {}
        return jsonable({"proposal": pid, "record": record, **holder})

    def run(
        self,
        proposal: Annotated[
            str | None, Field(description="The proposal these runs answer (its set applies).")
        ] = None,
        set: Annotated[  # the name agents know from `claimledger run --set`
            dict[str, Scalar] | None,
            Field(description="Hyperparameter overrides, like --set: {'muon_lr': 0.06}."),
        ] = None,
        token_budget: Annotated[
            int | None,
            Field(
                ge=1000,
                description="Training tokens per seed. Default: the budget the proposal's "
                "platform names, else the default platform's (200000 tokens).",
            ),
        ] = None,
        time_budget: Annotated[
            float | None,
            Field(gt=0, description="Or training seconds per seed (GPU platforms, e.g. 300)."),
        ] = None,
        seeds: Annotated[int, Field(ge=1, le=10, description="Seeds (one run each).")] = 2,
        branch: Annotated[str | None, Field(description="Research branch.")] = None,
        device: Literal["auto", "cpu", "cuda", "mps"] = "auto",
        threads: Annotated[int | None, Field(ge=1, le=512, description="CPU threads.")] = None,
        data: Annotated[
            str | None,
            Field(
                description="A folder of text files inside the workspace to train on, relative "
                "to its root (default: the bundled corpus). Runs on another corpus get their "
                "own platform (-corpus<hash>): they are compared only with each other."
            ),
        ] = None,
        ctx: Context | None = None,
    ) -> dict[str, Any]:
        """Train the bundled GPT once per seed (claimledger run) and record every run in the
        ledger: platform, config and its diff from the branch's best, val_bpb, keep / discard /
        crash. Writes a run report into inbox/. With a proposal: its set applies over yours,
        this agent leases it while the runs last (refused when another agent holds it), the
        runs mark it answered and the lease is released. Takes a while (minutes per seed on a
        real budget); past the server's time limit for runs the training stops and nothing is
        recorded."""
        from claimledger.research import run
        from claimledger.trainer import TrainerOptions

        options = TrainerOptions(
            time_budget=time_budget,
            token_budget=token_budget,
            overrides=dict(set or {}),
            data=self.ws.root / data if data else None,  # refused if it leads outside
            device=device,
            threads=threads,
        )
        result = run(
            self.ws,
            options,
            seeds,
            proposal=proposal,
            branch=branch,
            agent=self.agent,
            progress=progress_reporter(ctx) if ctx else None,
        )
        return jsonable(result.to_dict())

    def record_run(
        self,
        branch: Annotated[str, Field(min_length=1, description="Research branch.")],
        commit: Annotated[str, Field(min_length=1, description="Git commit of the trainer.")],
        platform: Annotated[str, Field(description="Platform id, e.g. cuda-H100-300s.")],
        status: Literal["keep", "discard", "crash"],
        val_bpb: Annotated[float | None, Field(description="Required unless it crashed.")] = None,
        config: Annotated[dict[str, Scalar] | None, Field(description="Full config.")] = None,
        metrics: Annotated[
            dict[str, float] | None, Field(description="Other metrics, e.g. memory_gb.")
        ] = None,
        crash_reason: Annotated[str | None, Field(description="Required for a crash.")] = None,
        parent_commit: Annotated[str | None, Field(description="Commit it started from.")] = None,
        seed: int | None = None,
        time_budget: Annotated[float | None, Field(gt=0, description="Seconds.")] = None,
        token_budget: Annotated[int | None, Field(gt=0, description="Tokens.")] = None,
        proposal: Annotated[str | None, Field(description="Proposal it answers.")] = None,
        description: Annotated[str | None, Field(description="What it tried, in a line.")] = None,
    ) -> dict[str, Any]:
        """Record a run made outside the run tool (your own edited train.py, another machine):
        one immutable ledger record. With a proposal, marks that proposal answered. Recording
        the same run twice writes nothing new."""
        from claimledger.ledger import add_run, read_record
        from claimledger.planner import mark_answered, read_proposal

        if proposal:
            read_proposal(self.ws, proposal)
        fields = {
            "branch": branch,
            "commit": commit,
            "platform": platform,
            "status": status,
            "metrics": {**(metrics or {}), "val_bpb": val_bpb},
            "config": config,
            "crash_reason": crash_reason,
            "parent_commit": parent_commit,
            "seed": seed,
            "time_budget": time_budget,
            "token_budget": token_budget,
            "proposal": proposal,
            "description": description,
            "agent": self.agent,
        }
        if status != "crash" and val_bpb is None:
            raise ClaimledgerError("val_bpb is required unless the run crashed")
        rid = add_run(self.ws, **{k: v for k, v in fields.items() if v is not None})
        if proposal:
            mark_answered(self.ws, proposal, [rid])
        return jsonable(read_record(self.ws, rid))

    def sync(
        self,
        remote: Annotated[str, Field(description="Git remote to share with.")] = "origin",
        branch: Annotated[str | None, Field(description="Remote branch.")] = None,
    ) -> dict[str, Any]:
        """Share the ledger: commit new record files, pull the remote's (records never
        conflict), push, retry when someone pushed first. Claims and sources are committed
        with plain git, not here."""
        from claimledger.ledger import sync

        return jsonable(sync(self.ws, remote, branch).to_dict())
