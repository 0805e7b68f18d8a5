"""A study the settings leave out is refused in one line naming the setting, before any run."""

from click.testing import CliRunner

from quant_assets.cli import main


def _study(*args):
    return CliRunner().invoke(main, ["study", *args])


def test_a_fit_window_before_the_first_partition_day_is_refused(qa_home, monkeypatch):
    # the tests' first partition day is 2025-10-01; a 90-day window for 2025-10-27 reaches into July
    monkeypatch.setenv("QUANT_ASSETS_TRAIN_DAYS", "90")
    result = _study("--start", "2025-10-27", "--end", "2025-11-02", "--symbols", "BTC-USDT")
    assert result.exit_code == 1
    assert "QUANT_ASSETS_START_DATE is 2025-10-01, but the study's first fit window needs data from 2025-07-" in result.output
    assert not (qa_home / "dagster").exists() or not any((qa_home / "dagster").rglob("*.db"))  # nothing ran


def test_a_symbol_outside_the_universe_is_refused(qa_home):
    result = _study("--start", "2025-11-03", "--end", "2025-11-09", "--symbols", "BTC-USDT,DOGE-USDT")
    assert result.exit_code == 1
    assert "symbols DOGE-USDT are not in QUANT_ASSETS_SYMBOLS (BTC-USDT,ETH-USDT,SOL-USDT)" in result.output


def test_an_end_before_the_start_is_refused(qa_home):
    result = _study("--start", "2025-11-09", "--end", "2025-11-03")
    assert result.exit_code == 2 and "--end 2025-11-03 is before --start 2025-11-09" in result.output
