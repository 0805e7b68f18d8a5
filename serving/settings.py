"""Trading settings, read through ``quant_assets.settings.read`` so a bad value is one line.

Exchange keys are read here and nowhere else, from the environment only; they are handed to
the live adapter and never written, logged or put in a message (``Credentials.__repr__``
hides them, so even an accidental ``print`` of the object shows nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from quant_assets import settings


_fraction = settings.bounded(float, 0, 1, above=True)
_non_negative = settings.bounded(float, 0)


def _ledger_url(raw: str) -> str:
    if not raw.startswith(("sqlite://", "postgresql://", "postgresql+psycopg2://")):
        raise ValueError("not a sqlite:// or postgresql+psycopg2:// URL")
    return raw


def ledger_url() -> str:
    """``QUANT_ASSETS_LEDGER_URL``, else a SQLite file under ``QUANT_ASSETS_HOME/ledger``."""
    if settings.is_set("QUANT_ASSETS_LEDGER_URL"):
        return settings.read(
            "QUANT_ASSETS_LEDGER_URL", None, _ledger_url, "a SQLAlchemy URL, e.g. postgresql+psycopg2://user@host:5432/ledger"
        )
    folder = settings.home().ledger
    if "://" in folder:
        # SQLite needs a local file; a home in an object store needs a database URL for the ledger.
        raise settings.SettingsError(
            f"QUANT_ASSETS_LEDGER_URL is not set and QUANT_ASSETS_HOME={settings.home().root!r} is not local; "
            "expected a SQLAlchemy URL, e.g. postgresql+psycopg2://user@host:5432/ledger"
        )
    return f"sqlite:///{folder}/ledger.sqlite3"


@dataclass(frozen=True)
class PaperCosts:
    fee_bps: float
    slippage_bps: float
    max_volume_share: float


def paper_costs() -> PaperCosts:
    return PaperCosts(
        fee_bps=settings.read("QUANT_ASSETS_PAPER_FEE_BPS", "10", _non_negative, "basis points, e.g. 10"),
        slippage_bps=settings.read("QUANT_ASSETS_PAPER_SLIPPAGE_BPS", "1", _non_negative, "basis points, e.g. 1"),
        max_volume_share=settings.read(
            "QUANT_ASSETS_PAPER_MAX_VOLUME_SHARE", "0.1", _fraction, "a share of the bar's volume in (0, 1], e.g. 0.1"
        ),
    )


@dataclass(frozen=True)
class Credentials:
    api_key: str
    secret: str

    def __repr__(self) -> str:  # never the values: a repr ends up in logs and tracebacks
        return "Credentials(<hidden>)"

    __str__ = __repr__


def exchange_credentials() -> Credentials | None:
    """The live adapter's keys, or ``None`` unless both are set (live trading then refuses)."""
    key = settings.read("QUANT_ASSETS_EXCHANGE_API_KEY", "", expect="the exchange API key")
    secret = settings.read("QUANT_ASSETS_EXCHANGE_API_SECRET", "", expect="the exchange API secret")
    return Credentials(key, secret) if key and secret else None


def risk_limits():
    from serving.risk.checks import RiskLimits

    return RiskLimits(
        max_daily_loss=settings.read("QUANT_ASSETS_RISK_MAX_DAILY_LOSS", "0.02", _fraction, "a fraction of the day's starting equity, e.g. 0.02"),
        max_consecutive_losses=settings.read(
            "QUANT_ASSETS_RISK_MAX_CONSECUTIVE_LOSSES", "5", settings.positive_int, "a whole number of losing closes, e.g. 5"
        ),
        max_drawdown=settings.read("QUANT_ASSETS_RISK_MAX_DRAWDOWN", "0.03", _fraction, "a fraction below the day's equity peak, e.g. 0.03"),
        max_position=settings.read("QUANT_ASSETS_RISK_MAX_POSITION", "0.25", _fraction, "a symbol's notional as a fraction of equity, e.g. 0.25"),
    )
