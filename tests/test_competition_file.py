"""`bot check` and the loader on competitions: what a competition must say, each refusal with its place."""

from __future__ import annotations

import base64
import dataclasses
import re

import pytest

from bot import create_app
from bot.conversation import InboundMessage
from bot.services import services_of
from tests.support.campaign_files import problems
from tests.support.competition import RULES_URL, competition_file
from tests.support.webhooks import SHOP_NUMBER, new_sid


@pytest.mark.parametrize("field", ["rules_url", "starts_at", "ends_at", "winner_reply"])
def test_a_competition_without_its_rules_window_or_winner_text_is_refused_with_its_place(tmp_path, field):
    text = "\n".join(line for line in competition_file().splitlines() if not line.startswith(f"{field} ="))
    [problem] = problems(tmp_path, text)
    line = text.splitlines().index("[[campaigns]]", text.splitlines().index('slug = "friends"')) + 1
    assert re.fullmatch(rf".*campaigns\.toml:{line}: \[\[campaigns\]\] #4 \(prize\)\.{field}: required for kind = "
                        r"'competition'", problem), problem


def test_bad_competition_fields_and_competition_fields_elsewhere_are_refused(tmp_path):
    text = competition_file(extra="max_entries_per_person = 0").replace(f'"{RULES_URL}"', '"rules.pdf"')
    text = text.replace('reply = "Share your code', 'rules_url = "https://x.example"\nreply = "Share your code')
    found = problems(tmp_path, text)
    assert any("(friends).rules_url: only a kind = \"competition\" campaign has rules_url" in p for p in found)
    assert any("(prize).rules_url: expected the http(s) URL" in p for p in found)
    assert any("(prize).max_entries_per_person: expected a whole number of at least 1" in p for p in found)


def test_check_warns_when_the_bot_must_add_the_legal_wording(tmp_path, capsys):
    from bot.cli import main

    path = tmp_path / "c.toml"
    path.write_text(competition_file())
    assert main(["check", str(path)]) == 0
    err = capsys.readouterr().err
    assert "(prize).reply: the entry reply lacks 'No purchase necessary' and" in err
    written = competition_file().replace("Your code: {{ code }}.", f"Your code: {{{{ code }}}}. No purchase necessary: "
                                                                    f"{RULES_URL}")
    path.write_text(written)
    assert main(["check", str(path)]) == 0
    assert "lacks" not in capsys.readouterr().err


def test_the_results_page_counts_entries_by_channel_and_poster(settings, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(competition_file())
    app = create_app(dataclasses.replace(settings, campaigns_file=path, marketer_password="pw-for-results"))
    services = services_of(app)
    for number, body, channel in (("+12125550100", "WIN", "sms"), ("+12125550101", "WIN P7", "sms"),
                                  ("+12125550102", "WIN", "web"), ("+12125550100", "WIN", "sms")):
        services.conversation.handle(InboundMessage(new_sid(), number, SHOP_NUMBER, body, channel=channel))
    auth = {"Authorization": "Basic " + base64.b64encode(b"marketer:pw-for-results").decode()}
    page = app.test_client().get("/marketer/results?period=24h", headers=auth).get_data(as_text=True)
    rows = re.findall(r'<tr data-campaign="prize" data-channel="(\w+)" data-poster="(\w+)">.*?'
                      r'data-column="entries">(\d+)<.*?data-column="all_time">(\d+)<', page, re.S)
    assert rows == [("sms", "none", "1", "1"), ("sms", "unlisted", "1", "1"), ("web", "none", "1", "1")]
    services.issuer.close()
