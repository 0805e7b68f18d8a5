"""``quant-assets bundle export|import``."""

from __future__ import annotations

import click


@click.group(help="Offline bundles: export lake partitions, import them elsewhere.")
def bundle() -> None:
    pass
