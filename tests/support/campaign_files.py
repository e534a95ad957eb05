"""The test campaign file with the poster fields: footer frequency and two [[posters]]."""

from tests.conftest import CAMPAIGNS

WITH_POSTERS = CAMPAIGNS.replace(
    'terms_url = "https://example.com/sms-terms"\n',
    'terms_url = "https://example.com/sms-terms"\nfrequency = "Up to 2 msgs/mo"\n',
) + """
[[posters]]
slug = "spring-main-street"
campaign = "spring"
ref = "P7"
headline = "Main Street: 10% off"

[[posters]]
slug = "spring-harbour"
campaign = "spring"
ref = "H2"
"""
