"""`bot audience import | export | stats` on the real Redis: all or nothing, --skip-bad, the birthday index,
a round trip through export, and the stats."""

from __future__ import annotations

import pytest

from bot.cli import main
from bot.store import connect
from tests.support.bot_process import env_of
from tests.support.campaign_files import WITH_BIRTHDAYS

GOOD = (
    "phone,birthday,consent_at,consent_source,timezone,email\r\n"
    "+12125550101,07-14,2025-05-01T12:00:00Z,till sign-up,,a@example.com\r\n"
    "(212) 555-0102,1992-02-29,2025-05-01T12:00:00-04:00,web form,America/Chicago,\r\n"
)
BAD = GOOD + (
    "+18005550100,07-14,2025-05-01T12:00:00Z,till,,\r\n"          # toll-free
    "+12125550103,13-01,2025-05-01T12:00:00Z,till,Mars/Base,\r\n"  # bad month and zone
)


@pytest.fixture
def campaigns_text() -> str:
    return WITH_BIRTHDAYS


@pytest.fixture
def store(settings, campaigns_file, monkeypatch):
    for name, value in env_of(settings, campaigns_file).items():
        monkeypatch.setenv(name, value)
    return connect(settings.redis_url, prefix=settings.redis_key_prefix)


def test_a_file_with_bad_lines_imports_nothing_and_names_every_one(store, tmp_path, capsys):
    path = tmp_path / "audience.csv"
    path.write_bytes(("\ufeff" + BAD).encode())
    assert main(["audience", "import", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:4: phone: '+18005550100' is a toll-free number, not a mobile" in err
    assert f"{path}:5: birthday:" in err and f"{path}:5: timezone: unknown time zone 'Mars/Base'" in err
    assert "2 bad line(s); nothing imported" in err
    assert store.audience("+12125550101") is None


def test_skip_bad_imports_the_good_lines_and_the_birthday_index(store, tmp_path, capsys):
    path = tmp_path / "audience.csv"
    path.write_text(BAD)
    assert main(["audience", "import", "--skip-bad", str(path)]) == 0
    out = capsys.readouterr()
    assert "2 customer(s) imported, 2 bad line(s) skipped" in out.out
    assert "columns ignored: email" in out.err
    assert store.born_on("07-14") == ["+12125550101"] and store.born_on("02-29") == ["+12125550102"]
    record = store.audience("+12125550102")
    assert (record.timezone, record.consent_source, record.verified) == ("America/Chicago", "web form", True)
    assert record.consent_at == "2025-05-01T16:00:00+00:00"


def test_export_writes_the_import_columns_and_imports_back(store, tmp_path, capsys):
    path = tmp_path / "audience.csv"
    path.write_text(GOOD)
    assert main(["audience", "import", str(path)]) == 0
    exported = tmp_path / "export.csv"
    assert main(["audience", "export", "--output", str(exported)]) == 0
    lines = exported.read_text().splitlines()
    assert lines[0] == "phone,birthday,consent_at,consent_source,timezone"
    assert sorted(lines[1:]) == [
        "+12125550101,07-14,2025-05-01T12:00:00Z,till sign-up,",
        "+12125550102,02-29,2025-05-01T16:00:00Z,web form,America/Chicago",
    ]
    assert main(["audience", "import", str(exported)]) == 0
    assert "2 customer(s) imported" in capsys.readouterr().out


def test_stats_prints_birthdays_per_month_and_consent_coverage(store, tmp_path, capsys):
    path = tmp_path / "audience.csv"
    path.write_text(GOOD)
    main(["audience", "import", str(path)])
    capsys.readouterr()
    assert main(["audience", "stats"]) == 0
    out = capsys.readouterr().out
    assert "customers: 2" in out and "verified consent: 2 (100%)" in out and "with a time zone: 1 (50%)" in out
    assert "  Feb         1" in out and "  Jul         1" in out and "  Jan         0" in out


def test_a_changed_birthday_leaves_its_old_index_set(store, tmp_path):
    path = tmp_path / "audience.csv"
    path.write_text(GOOD)
    main(["audience", "import", str(path)])
    path.write_text("phone,birthday,consent_at,consent_source\n+12125550101,08-01,2025-06-01T00:00:00Z,till\n")
    main(["audience", "import", str(path)])
    assert store.born_on("07-14") == [] and store.born_on("08-01") == ["+12125550101"]


def test_bot_simulate_shows_the_birthday_reply_but_saves_no_consent(store, capsys):
    assert main(["simulate", "--from", "+12125550109", "BDAY", "07/14"]) == 0
    assert "July 14" in capsys.readouterr().out
    assert store.audience("+12125550109") is None and store.born_on("07-14") == []
