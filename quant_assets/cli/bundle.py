"""``quant-assets bundle export|import``.

Export bundles stored lake partitions; import verifies a bundle, unpacks it and materializes
its partitions through Dagster, so the imported data passes the asset checks and carries its
provenance. Any refusal is a non-zero exit with one line on stderr naming the problem.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from quant_assets import settings
from quant_assets.bundles.export import export_lake
from quant_assets.bundles.importer import ImportReport, RunOutcome, import_partitions
from quant_assets.bundles.limits import BundleLimits
from quant_assets.bundles.lock import bundle_lock
from quant_assets.bundles.manifest import BundleError, Manifest, one_line
from quant_assets.bundles.unpack import check_fits_settings, unpack
from quant_assets.instance import get_instance
from quant_assets.lake.store import ParquetLake
from quant_assets.symbols import Symbol

PROGRESS_EVERY_S = 2.0


@click.group(help="Offline bundles: export lake partitions, import them elsewhere.")
def bundle() -> None:
    pass


@bundle.command("export", help="Write stored lake partitions of days START..END into a bundle.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="FILE.tar.gz to write.")
@click.option("--start", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day (UTC), inclusive.")
@click.option("--end", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day (UTC), inclusive.")
@click.option("--symbols", multiple=True, help="Symbols (BTC-USDT or BTC/USDT), repeated or comma-separated; default all.")
@click.option("--assets", multiple=True, help="Lake assets, repeated or comma-separated; default every asset.")
def export_command(out_path: Path, start, end, symbols: tuple[str, ...], assets: tuple[str, ...]) -> None:
    home = settings.home()
    try:
        symbol_keys = [_symbol_key(s) for s in _split(symbols)]
        # The lock keeps an import from rewriting the lake while it is being read.
        with bundle_lock(home.bundles, BundleLimits.from_env().lock_timeout_s, _notice):
            manifest = export_lake(
                ParquetLake(home.lake),
                out_path,
                start.date(),
                end.date(),
                symbol_keys or None,
                _split(assets) or None,
                _Progress("export"),
            )
    except (BundleError, ValueError) as err:
        raise click.ClickException(f"bundle export refused: {err}") from None
    click.echo(
        f"exported bundle {manifest.bundle_id}: {len(manifest.files)} files, {manifest.rows} rows, assets {', '.join(manifest.assets)} -> {out_path}"
    )


@bundle.command("import", help="Verify a bundle, unpack it, and materialize its partitions through Dagster.")
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--unpack-only", is_flag=True, help="Verify and unpack, but do not materialize (backfill later).")
def import_command(archive: Path, unpack_only: bool) -> None:
    import_bundle(archive, unpack_only)


def import_bundle(archive: Path, unpack_only: bool = False) -> Manifest:
    """Verify, unpack and (unless ``unpack_only``) materialize a bundle; returns its manifest.

    One bundle command runs at a time per home: this one waits (saying so) for any other.
    Any refusal or failed check raises ``click.ClickException`` with one line.
    """
    home = settings.home()
    universe = settings.universe()
    admit = None if unpack_only else (lambda manifest: check_fits_settings(manifest, universe, settings.start_date()))
    try:
        limits = BundleLimits.from_env()
        with bundle_lock(home.bundles, limits.lock_timeout_s, _notice):
            unpacking = unpack(archive, home.bundles, _Progress("import"), admit, limits)
            try:
                report = (
                    None
                    if unpack_only
                    else import_partitions(unpacking, _bundle_definitions(home), get_instance(), universe, ParquetLake(home.lake), on_run=_echo_run)
                )
            except BundleError as err:
                raise click.ClickException(f"bundle {archive.name}: {err}") from None
    except BundleError as err:  # the settings, the lock, or verification
        raise click.ClickException(f"bundle {archive.name} refused: {err}") from None
    except OSError as err:  # the lake or the disk, while materializing: a line, not a traceback
        raise click.ClickException(f"bundle {archive.name}: {one_line(err)}") from None
    manifest, unpacked = unpacking.manifest, unpacking.bundle
    what = (
        f"bundle {manifest.bundle_id} (sha256 {unpacked.bundle_sha256[:12]}): {len(manifest.files)} files, "
        f"{manifest.rows} rows, {'unpacked' if unpacking.fresh else 'already unpacked'}"
    )
    if report is None:
        click.echo(f"{what}; not materialized (--unpack-only)")
        return manifest
    done = sum(len(p) for p in report.materialized.values())
    skipped = sum(len(p) for p in report.skipped.values())
    summary = (
        f"{what}; {len(report.runs)} runs, {done} partitions materialized, {skipped} already in the lake"
        f"{_held_elsewhere(report)}; {report.checks_passed} checks passed"
    )
    if not report.ok:
        rolled = sum(len(parts) for parts in report.rolled_back.values())
        shown = f" (Dagster shows the {rolled} partitions it had recorded failed)" if rolled else ""
        raise click.ClickException(f"{summary}; {report.failure_line()}; the lake was left as it was{shown}")
    for warning in report.checks_warned:
        click.echo(f"warning: {warning}", err=True)
    click.echo(summary)
    return manifest


def _bundle_definitions(home: settings.HomeLayout):
    """The code location's definitions with every external source swapped for its
    unpacked-bundle twin (``definitions.bundle_definitions``)."""
    # Imported here, not at the top: importing the module builds the module-level defs,
    # which every other command (and --unpack-only) would pay for.
    from quant_assets.definitions import bundle_definitions

    return bundle_definitions(home)


def _held_elsewhere(report: ImportReport) -> str:
    """Which later bundle holds each partition this one no longer provides, compactly."""
    parts = []
    for bundle_id, held in sorted(report.held_by.items()):
        shown = ", ".join(held[:3]) + (f" and {len(held) - 3} more" if len(held) > 3 else "")
        parts.append(f"{len(held)} held by bundle {bundle_id}, unpacked later ({shown})")
    return "".join(f", {p}" for p in parts)


def _notice(message: str) -> None:
    click.echo(message, err=True)


def _echo_run(outcome: RunOutcome) -> None:
    state = "ok" if outcome.success and not outcome.checks_failed else "FAILED"
    click.echo(
        f"  {outcome.asset} {outcome.partitions}: {state}, {len(outcome.checks_passed)} checks passed (run {outcome.run_id})",
        err=True,
    )


class _Progress:
    """Progress for long exports and imports: a line on stderr at most every few seconds.

    Short jobs print nothing, so a refusal stays the one line it should be.
    """

    def __init__(self, verb: str):
        self.verb, self.every_s = verb, PROGRESS_EVERY_S
        self.last = time.monotonic()
        self.printed = False

    def __call__(self, done: int, total: int | None, what: str) -> None:
        now = time.monotonic()
        final = self.printed and total is not None and done == total
        if now - self.last < self.every_s and not final:
            return
        self.last, self.printed = now, True
        of = f"/{total}" if total is not None else ""
        click.echo(f"{self.verb}: {done}{of} files ({what})", err=True)


def _split(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _symbol_key(symbol: str) -> str:
    return Symbol.from_ccxt(symbol).key if "/" in symbol else Symbol.from_key(symbol).key
