"""Settings: a misconfigured ``QUANT_ASSETS_*`` variable stops the load with one line naming
it (no traceback), wherever the project is loaded; every variable the code reads is documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from quant_assets import settings
from quant_assets.settings import REPO_ROOT, SettingsError

# (bad environment, the variable the one line must name); each costs a fresh interpreter.
MISCONFIGURATIONS = [
    ({"QUANT_ASSETS_MARKET_SOURCE": "file"}, "QUANT_ASSETS_FILE_DROP"),
    ({"QUANT_ASSETS_START_DATE": "2025-13-01"}, "QUANT_ASSETS_START_DATE"),
    ({"QUANT_ASSETS_SYMBOLS": "BTC-USDT,ETH/USDT"}, "QUANT_ASSETS_SYMBOLS"),
]


def _env(tmp_path, bad: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANT_ASSETS_") and k != "DAGSTER_HOME"}
    env.update(QUANT_ASSETS_HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO_ROOT), **bad)
    return env


def _assert_one_line_naming(stderr: str, variable: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert variable in lines[0] and "Traceback" not in stderr, stderr


def test_each_misconfiguration_is_one_line_naming_the_variable_when_the_code_loads(tmp_path):
    # Loaded the way a code server or `dagster asset materialize -m` loads it, and by
    # `quant-assets dev` before it starts the UI; Dagster's own beta warnings are not about
    # settings (PYTHONWARNINGS=ignore). All at once: each load takes seconds.
    load = [sys.executable, "-c", "import quant_assets.definitions"]
    dev = [str(Path(sys.executable).parent / "quant-assets"), "dev", "--port", "1"]
    cases = [(load, bad, variable) for bad, variable in MISCONFIGURATIONS]
    cases.append((dev, {"QUANT_ASSETS_START_DATE": "01/10/2025"}, "QUANT_ASSETS_START_DATE"))
    procs = [
        (
            variable,
            subprocess.Popen(
                cmd,
                env={**_env(tmp_path, bad), "PYTHONWARNINGS": "ignore"},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for cmd, bad, variable in cases
    ]
    for variable, proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, (variable, out, err)
        _assert_one_line_naming(err, variable)


def test_dagster_definitions_validate_reports_the_variable_not_a_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "dagster", "definitions", "validate", "-m", "quant_assets.definitions"],
        env=_env(tmp_path, {"QUANT_ASSETS_MARKET_SOURCE": "file"}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "QUANT_ASSETS_FILE_DROP is not set" in output and "Traceback" not in output and "Stack Trace" not in output


def test_the_cli_reports_a_bad_setting_in_one_line(qa_home, monkeypatch):
    from quant_assets.cli import main

    monkeypatch.setenv("QUANT_ASSETS_SYMBOLS", "btc-usdt")
    result = CliRunner().invoke(main, ["bundle", "import", str(REPO_ROOT / "data" / "sample_bundle.tar.gz")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "quant_assets: QUANT_ASSETS_SYMBOLS='btc-usdt' is not usable (symbol partition key 'btc-usdt' is not of the "
        "form BASE-QUOTE, e.g. BTC-USDT); expected comma-separated BASE-QUOTE keys, e.g. BTC-USDT,ETH-USDT"
    ]
    assert not (qa_home / "bundles").exists(), "nothing may be unpacked with a bad setting"


def test_read_parses_defaults_and_names_the_variable(monkeypatch):
    monkeypatch.delenv("QUANT_ASSETS_EXAMPLE", raising=False)
    assert settings.read("QUANT_ASSETS_EXAMPLE", "7", settings.positive_int) == 7
    monkeypatch.setenv("QUANT_ASSETS_EXAMPLE", "  ")  # blank is unset
    assert settings.read("QUANT_ASSETS_EXAMPLE", "7", settings.positive_int) == 7
    monkeypatch.setenv("QUANT_ASSETS_EXAMPLE", "0")
    with pytest.raises(SettingsError, match=r"^QUANT_ASSETS_EXAMPLE='0' is not usable \(must be at least 1\); expected a count$"):
        settings.read("QUANT_ASSETS_EXAMPLE", "7", settings.positive_int, "a count")
    monkeypatch.delenv("QUANT_ASSETS_EXAMPLE")
    with pytest.raises(SettingsError, match=r"^QUANT_ASSETS_EXAMPLE is not set; expected a folder$"):
        settings.read("QUANT_ASSETS_EXAMPLE", None, expect="a folder")


def test_universe_and_start_date_are_checked(monkeypatch):
    monkeypatch.setenv("QUANT_ASSETS_SYMBOLS", " BTC-USDT, ETH-USDT ,")
    monkeypatch.setenv("QUANT_ASSETS_START_DATE", "2025-10-01")
    assert settings.universe() == ["BTC-USDT", "ETH-USDT"] and settings.start_date() == date(2025, 10, 1)
    monkeypatch.setenv("QUANT_ASSETS_SYMBOLS", "BTC-USDT,BTC-USDT")
    with pytest.raises(SettingsError, match="QUANT_ASSETS_SYMBOLS.*BTC-USDT listed twice"):
        settings.universe()
    monkeypatch.setenv("QUANT_ASSETS_SYMBOLS", ",")
    with pytest.raises(SettingsError, match="QUANT_ASSETS_SYMBOLS.*no symbols"):
        settings.universe()


@pytest.mark.parametrize(
    "variable, value, reason",
    [
        ("QUANT_ASSETS_MARKET_SOURCE", "files", "not one of bundle, ccxt, file"),
        ("QUANT_ASSETS_DERIVATIVES_SOURCE", "exchange", "not one of bundle, ccxt, file"),
        ("QUANT_ASSETS_SOCIAL_SOURCE", "ccxt", "not one of bundle, file"),
        ("QUANT_ASSETS_EXCHANGE", "binanse", "ccxt has no such exchange"),
        ("QUANT_ASSETS_EMBEDDING_BATCH", "sixty-four", "invalid literal for int"),
    ],
)
def test_every_source_setting_is_checked_when_the_definitions_are_built(monkeypatch, variable, value, reason):
    from quant_assets.definitions import build_definitions

    monkeypatch.setenv("QUANT_ASSETS_MARKET_SOURCE", "ccxt")  # so the exchange is read too
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=rf"^{variable}='{value}' is not usable \({reason}"):
        build_definitions()


def test_a_file_drop_folder_that_does_not_exist_is_named(monkeypatch, tmp_path):
    from quant_assets.definitions import derivatives_data_source

    monkeypatch.setenv("QUANT_ASSETS_DERIVATIVES_SOURCE", "file")
    monkeypatch.setenv("QUANT_ASSETS_FILE_DROP", str(tmp_path / "nowhere"))
    with pytest.raises(SettingsError, match=r"QUANT_ASSETS_FILE_DROP='.*nowhere' is not usable \(no such folder\)"):
        derivatives_data_source()


def _variables_in_code() -> set[str]:
    names = set()
    for path in [*(REPO_ROOT / "quant_assets").rglob("*.py"), *(REPO_ROOT / "serving").rglob("*.py")]:
        # a name ending in "_" is a family's prefix (QUANT_ASSETS_GATE_<NAME>), documented as one row
        names |= set(re.findall(r"QUANT_ASSETS_[A-Z][A-Z0-9_]*[A-Z0-9_]", path.read_text()))
    return names


def _variables_in_settings_table() -> set[str]:
    # The settings reference page of the docs site is the table (its only section).
    section = (REPO_ROOT / "docs" / "settings.md").read_text()
    return set(re.findall(r"^\| `(QUANT_ASSETS_[A-Z0-9_]+)\*?`", section, flags=re.MULTILINE))


def test_every_variable_the_code_reads_is_in_the_settings_table():
    in_code, documented = _variables_in_code(), _variables_in_settings_table()
    assert len(in_code) >= 19, in_code
    assert sorted(in_code - documented) == []
    assert sorted(documented - in_code) == [], "the table lists variables nothing reads"


def test_the_settings_table_is_generated_from_the_model():
    documented = settings.table_in_docs((REPO_ROOT / "docs" / "settings.md").read_text())
    assert documented == settings.table(), "docs/settings.md's table differs from the settings model: run python -m quant_assets.settings"


def test_each_variable_is_declared_once_and_read_once_per_environment(monkeypatch):
    names = [var.name for group in settings.GROUPS for var in (*group.variables().values(), *group.elsewhere)]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    monkeypatch.setenv("QUANT_ASSETS_TRAIN_DAYS", "30")
    first = settings.current()
    assert first.training.train_days == 30 and settings.current() is first
    monkeypatch.setenv("QUANT_ASSETS_TRAIN_DAYS", "45")
    assert settings.current() is not first and settings.train_days() == 45
    monkeypatch.setenv("QUANT_ASSETS_TRAIN_DAYS", "0")
    with pytest.raises(SettingsError, match=r"^QUANT_ASSETS_TRAIN_DAYS='0' is not usable \(must be at least 1\)"):
        settings.train_days()
    assert isinstance(settings.start_date(), date), "another area is not stopped by it"


def test_what_other_modules_declare_agrees_with_the_model():
    from quant_assets import catalog
    from quant_assets.bundles.limits import LOCK_TIMEOUT_ENV, MAX_BYTES_ENV, MAX_RATIO_ENV, BundleLimits
    from quant_assets.evaluation.portfolio import FAMILIES
    from quant_assets.features.audit import DEFAULT_SAMPLE
    from serving.settings import REAL_KEYS, SANDBOX_KEYS

    listed = {var.name: var.default_text() for group in settings.GROUPS for var in group.elsewhere}
    for name, default, _record in catalog.max_age_settings().values():
        assert listed[name] == f"`{default}`", name
    assert set(catalog.RENAMED) <= set(listed)
    limits = BundleLimits()
    assert (limits.max_bytes, listed[MAX_BYTES_ENV]) == (16 << 30, "16 GiB")
    assert listed[MAX_RATIO_ENV] == f"`{limits.max_ratio:g}`" and listed[LOCK_TIMEOUT_ENV] == f"`{limits.lock_timeout_s:g}`"
    assert {*REAL_KEYS, *SANDBOX_KEYS} <= set(listed), "the exchange keys are secrets: listed, never fields"
    assert settings.SERVED_FAMILIES == FAMILIES
    assert settings.declared("QUANT_ASSETS_FEATURE_PREFIX_SAMPLES").default == str(DEFAULT_SAMPLE)


@pytest.mark.parametrize(
    "variable, value",
    [
        ("QUANT_ASSETS_MLFLOW_PG_URL", "postgresql://mlflow:pl4nted-pw@db:5432/mlflow"),  # no driver: refused
        ("QUANT_ASSETS_PG_URL", "mysql://dagster:pl4nted-pw@db:3306/dagster"),
        ("QUANT_ASSETS_CELERY_BROKER", "http://celery:pl4nted-pw@broker:80//"),
    ],
)
def test_a_refused_url_is_named_with_its_password_hidden(monkeypatch, variable, value):
    # The message reaches run logs and the UI: the variable and the rest of the URL, never the password.
    monkeypatch.setenv(variable, value)
    group = next(g for g in settings.GROUPS if any(v.name == variable for v in g.variables().values()))
    with pytest.raises(SettingsError) as err:
        group()
    message = str(err.value)
    assert message.startswith(f"{variable}=") and "***@" in message and "\n" not in message
    assert "pl4nted-pw" not in message
