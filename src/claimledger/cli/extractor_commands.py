"""Extractor commands: `claimledger extractor train` fits the offline ranker on the vault.

The library is imported inside each command so that `claimledger --help` stays fast.
"""

from __future__ import annotations

from typing import Any

import click

from claimledger.cli.app import State
from claimledger.cli.output import emit, with_json


@click.group()
def extractor() -> None:
    """The offline extractor's learned ranker."""


@extractor.command("train")
@with_json
@click.pass_obj
def train(state: State, as_json: bool) -> None:
    """Fit the offline extractor on this vault's processed sources and the claims kept from
    them (claims_extracted; a claim rejected in review counts against its sentence).

    The model goes to .claimledger/extractor/model.json, blended with the packaged default
    by how much history there is. The worker refits it by itself when the history changed.

    \b
    Examples:
      claimledger extractor train
      claimledger extractor train --json
    """
    from claimledger.errors import ClaimledgerError
    from claimledger.inbox.extractors.history import train_extractor

    try:
        summary = train_extractor(state.workspace)
    except ValueError as exc:
        raise ClaimledgerError(f"extractor not trained: {exc}") from exc
    emit(summary, as_json, lambda: _print(summary))


def _print(summary: dict[str, Any]) -> None:
    fit = summary["fit"]
    click.echo(
        f"trained on {summary['sources']} sources ({summary['references']} kept claims, "
        f"{summary['candidates']} candidates), vault weight {summary['blend_weight']}; "
        f"on its own history R {fit['recall']} P {fit['precision']} F1 {fit['f1']}; "
        f"saved to {summary['model']}"
    )


COMMANDS = [extractor]
