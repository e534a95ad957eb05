"""The landing page's "text me my code" form as a served page posts it."""

from __future__ import annotations

from bot.landing import FORM_TTL_MS
from bot.services import services_of

#: The number the tests type into the form.
CUSTOMER = "+14155550100"


def form_for(app, slug: str, **fields) -> dict:
    """The form as a served page of `slug` posts it, with that page view's single-use nonce."""
    nonce = services_of(app).store.issue_form_nonce(slug, FORM_TTL_MS)
    return {"csrf": nonce, "phone": CUSTOMER, "consent": "yes", **fields}
