"""Trading settings: the ``trading`` and ``portfolio`` groups of the settings model
(``quant_assets.settings``), so a bad value is one line.

Exchange keys reach the code only through the ``ExchangeAccount`` resource, whose key fields
are Dagster ``EnvVar``s (``exchange_account``): the run config, the resource config the UI
shows and the event log carry the variables' names, never their values; Dagster resolves
them in the run's process. They are handed to the live adapter and never written, logged or
put in a message (``Credentials`` and ``ExchangeAccount`` hide them in their repr).
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster import ConfigurableResource, EnvVar

from quant_assets import settings
from quant_assets.catalog import max_bar_age
from quant_assets.evaluation import portfolio
from serving.risk.checks import RiskLimits


def _ledger_url(raw: str) -> str:
    if not raw.startswith(("sqlite://", "postgresql://", "postgresql+psycopg2://")):
        raise ValueError("not a sqlite:// or postgresql+psycopg2:// URL")
    return raw


def ledger_url() -> str:
    """``QUANT_ASSETS_LEDGER_URL``, else a SQLite file under ``QUANT_ASSETS_HOME/ledger``.

    Read where the ledger is opened, never passed as run or resource config; a bad value is
    named with its password hidden (the message reaches logs and the UI)."""
    raw = settings.current().trading.ledger_url
    if raw:
        try:
            return _ledger_url(raw)
        except ValueError as err:
            raise settings.SettingsError(
                f"QUANT_ASSETS_LEDGER_URL={settings.hide_password(raw)!r} is not usable ({err}); "
                "expected a SQLAlchemy URL, e.g. postgresql+psycopg2://user@host:5432/ledger"
            ) from None
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
    trading = settings.current().trading
    return PaperCosts(fee_bps=trading.paper_fee_bps, slippage_bps=trading.paper_slippage_bps, max_volume_share=trading.paper_max_volume_share)


@dataclass(frozen=True)
class Credentials:
    api_key: str
    secret: str

    def __repr__(self) -> str:  # never the values: a repr ends up in logs and tracebacks
        return "Credentials(<hidden>)"

    __str__ = __repr__


REAL_KEYS = settings.EXCHANGE_KEYS  # secrets: documented by the model, never its values
SANDBOX_KEYS = settings.SANDBOX_KEYS
TESTNET = "testnet"  # the suffix of a sandbox book's strategy name in the ledger


class ExchangeAccount(ConfigurableResource):
    """The live adapter's account at the venue: real or testnet (``sandbox``), and its keys.

    Sandbox mode is the step between paper and live: the same live path (ccxt's real order
    code, the live gate, the kill switch) against the venue's testnet, with testnet keys. Each
    mode takes only its own keys and refuses the other's (``refusal``), so a real key cannot
    trade on a sandbox run's assumptions nor a testnet key fail halfway through a real one.
    """

    sandbox: bool = False
    api_key: str = ""  # EnvVar(QUANT_ASSETS_EXCHANGE_API_KEY)
    secret: str = ""  # EnvVar(QUANT_ASSETS_EXCHANGE_API_SECRET)
    sandbox_api_key: str = ""  # EnvVar(QUANT_ASSETS_EXCHANGE_SANDBOX_API_KEY)
    sandbox_secret: str = ""  # EnvVar(QUANT_ASSETS_EXCHANGE_SANDBOX_API_SECRET)

    def __repr__(self) -> str:  # never the keys: a repr ends up in logs and tracebacks
        return f"ExchangeAccount(sandbox={self.sandbox}, keys=<hidden>)"

    __str__ = __repr__

    def refusal(self) -> str | None:
        """Why this account cannot trade live, in one line naming the variables, or None."""
        own, other = (SANDBOX_KEYS, REAL_KEYS) if self.sandbox else (REAL_KEYS, SANDBOX_KEYS)
        values = {REAL_KEYS: (self.api_key, self.secret), SANDBOX_KEYS: (self.sandbox_api_key, self.sandbox_secret)}
        mode = "on" if self.sandbox else "off"
        if any(values[other]):
            return (f"QUANT_ASSETS_EXCHANGE_SANDBOX is {mode} but {' / '.join(other)} are set: "
                    f"{'real' if self.sandbox else 'testnet'} keys are refused; unset them")  # fmt: skip
        if not all(values[own]):
            return f"{own[0]} and {own[1]} are not both set"
        return None

    def credentials(self) -> Credentials | None:
        """The keys of the mode the account is in, or None where ``refusal`` says why not."""
        if self.refusal():
            return None
        return Credentials(self.sandbox_api_key, self.sandbox_secret) if self.sandbox else Credentials(self.api_key, self.secret)

    def strategy(self, strategy: str) -> str:
        """The live book's strategy name: a sandbox book is its own (``<strategy>-testnet``), so
        testnet fills never enter the real live book's positions, cash, PnL or client order ids."""
        return f"{strategy}-{TESTNET}" if self.sandbox else strategy


def _secret(name: str) -> EnvVar | str:
    # An EnvVar only for a variable set now: Dagster fails a run whose EnvVar is unset, and an
    # unset key means "no key" (the account refuses live trading with its one line).
    return EnvVar(name) if settings.is_set(name) else ""


def exchange_account() -> ExchangeAccount:
    """The ``exchange_account`` resource of the definitions, keys as EnvVars."""
    return ExchangeAccount(
        sandbox=settings.current().trading.exchange_sandbox,
        api_key=_secret(REAL_KEYS[0]),
        secret=_secret(REAL_KEYS[1]),
        sandbox_api_key=_secret(SANDBOX_KEYS[0]),
        sandbox_secret=_secret(SANDBOX_KEYS[1]),
    )


def risk_limits():
    trading = settings.current().trading
    return RiskLimits(
        max_daily_loss=trading.risk_max_daily_loss,
        max_consecutive_losses=trading.risk_max_consecutive_losses,
        max_drawdown=trading.risk_max_drawdown,
        max_position=portfolio.max_position(),
    )


FAMILIES = portfolio.FAMILIES


@dataclass(frozen=True)
class ServingSettings:
    strategy: str  # the book's name in the ledger
    family: str  # which family's prediction trades: lgbm, mhnet or their mean
    weights: dict[str, float]  # horizon -> weight of its position in the symbol's target
    capital: float  # the quote notional a full (+1) combined position stands for
    risk_budget: float  # share of capital a full signal deploys
    max_gross: float  # sum of |notional| across symbols, as a share of capital
    min_change: float  # no order for a change of notional below this share of capital
    max_bar_age_s: float  # data halt: newest bar older than this at tick time
    max_missing_sources: int  # data halt: more feature sources than this without a record
    max_drift: float  # data halt: mean |z| of the row against the model's fit window
    flatten_without_champion: bool = True  # a horizon whose champion alias is removed is flattened, not held


def serving_settings() -> ServingSettings:
    trading = settings.current().trading
    return ServingSettings(
        strategy=trading.strategy,
        # family, weights and sizing: the settings oos_eval's portfolio series reads too
        family=portfolio.served_family(),
        weights=portfolio.horizon_weights(),
        capital=trading.capital,
        risk_budget=portfolio.risk_budget(),
        max_gross=portfolio.max_gross(),
        min_change=portfolio.min_change(),
        # One limit with the lake's freshness policy for market_bars (quant_assets.catalog).
        max_bar_age_s=max_bar_age().total_seconds(),
        max_missing_sources=trading.max_missing_sources,
        max_drift=trading.max_drift,
        flatten_without_champion=trading.flatten_without_champion,
    )
