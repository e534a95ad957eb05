"""Twilio's X-Twilio-Signature on its webhooks: one check for POST /sms and POST /twilio/status."""

from __future__ import annotations

import hmac
from urllib.parse import unquote_plus

from flask import Request, request
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from .services import services_of


def signed_url(req: Request, public_base_url: str | None) -> str:
    """The URL Twilio signed `req` for: PUBLIC_BASE_URL plus the raw path and query, when configured.

    Behind a proxy, Flask sees http://internal-host; Twilio signed the public
    https URL. The raw query string keeps Twilio's own percent-encoding.
    """
    if not public_base_url:
        return req.url
    query = req.query_string
    return public_base_url + req.path + ("?" + query.decode("latin-1") if query else "")


def current_request() -> Request:
    """The request being handled, itself: each attribute read through Flask's `request` proxy is a
    context-variable lookup (about 8 k instructions), and a webhook reads a dozen."""
    return request._get_current_object()  # type: ignore[attr-defined]


_URLENCODED = "application/x-www-form-urlencoded"


class FormFields(dict):
    """A form as {name: [values]}: what twilio's RequestValidator reads, and the webhook's fields.

    Handed werkzeug's MultiDict, the validator raises and catches an AttributeError per field
    before finding `getlist`: a third of the webhook's own CPU time in `make bench`.
    `getall` is the dict's own lookup, not a Python method: one call per field. The webhook
    reads its fields from the same dict (`fields[name][0]`), a C lookup each where a MultiDict's
    `__getitem__` is Python.
    """

    getall = dict.__getitem__

    @classmethod
    def of(cls, form: MultiDict) -> FormFields:
        return cls(form.lists())

    @classmethod
    def posted(cls, req: Request) -> FormFields:
        """`req`'s form. Twilio posts url-encoded forms, parsed here (`parse`); anything else
        (multipart, say) is werkzeug's to read. The body is read through `get_data`, so
        MAX_CONTENT_LENGTH holds as it does for `request.form`."""
        if req.environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() == _URLENCODED:
            return cls.parse(req.get_data().decode("utf-8", "replace"))
        return cls.of(req.form)

    @classmethod
    def parse(cls, body: str) -> FormFields:
        """A url-encoded body, as `urllib.parse.parse_qsl(body, keep_blank_values=True)` reads it.

        werkzeug's `request.form` is that parse_qsl into a MultiDict, behind its stream and
        content-type machinery: a fifth of a repeat texter's webhook (`make bench-instructions`).
        Here a field that holds no `%` or `+` (most of Twilio's: the SIDs, the counts, the API
        version) is taken as it is, a phone number (`%2B` and digits: `From` and `To`) has its
        `+` put back, and only the rest go through `unquote_plus`. An escape that is not UTF-8
        becomes U+FFFD, as parse_qsl has it (werkzeug keeps it quoted): Twilio sends none.
        """
        fields = cls()
        for pair in body.split("&"):
            if not pair:
                continue
            name, _, value = pair.partition("=")
            if "%" in name or "+" in name:
                name = unquote_plus(name)
            if "%" in value or "+" in value:
                digits = value[3:]
                value = "+" + digits if value[:3] == "%2B" and digits.isdigit() else unquote_plus(value)
            if name in fields:
                fields[name].append(value)
            else:
                fields[name] = [value]
        return fields

    def value(self, name: str, default: str = "") -> str:
        """The field's first value (Twilio sends each once), or `default`."""
        values = self.get(name)
        return values[0] if values else default


def signature_valid(token: str, url: str, form: MultiDict | FormFields, signature: str) -> bool:
    """Twilio's X-Twilio-Signature check, with the usual case in one HMAC.

    Twilio signed exactly `url` and the form: one computation by twilio's own
    RequestValidator. Anything else (a port Twilio added or left out, a
    bodySHA256 URL) goes through its full `validate`, which tries every variant.
    """
    validator = RequestValidator(token)
    fields = form if isinstance(form, FormFields) else FormFields.of(form)
    if "bodySHA256" not in url:
        expected = validator.compute_signature(url, fields)
        if hmac.compare_digest(expected.encode(), signature.encode()):
            return True
    return validator.validate(url, fields, signature)


def signature_of(req: Request) -> str:
    """`req`'s X-Twilio-Signature header, or ""."""
    return req.environ.get("HTTP_X_TWILIO_SIGNATURE", "")


def signed_by_twilio(req: Request, form: FormFields) -> bool:
    """Whether `req`, whose form is `form`, carries Twilio's valid X-Twilio-Signature (always, without
    TWILIO_AUTH_TOKEN: the all-embedded demo, whose start-up warns that nothing is verified)."""
    settings = services_of().settings
    if not settings.twilio_auth_token:
        return True
    signature = signature_of(req)
    # All form fields, untouched: Twilio adds fields without notice and signs them all.
    return bool(signature) and signature_valid(settings.twilio_auth_token, signed_url(req, settings.public_base_url),
                                               form, signature)
