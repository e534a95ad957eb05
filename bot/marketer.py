"""The marketer's pages: posters (pick a campaign or poster, ref, paper, mode; preview; download)
and results (/marketer/results: the funnel per campaign and poster, charts, CSV; see results.py).

Behind HTTP Basic authentication with MARKETER_PASSWORD (any user name). With
no password configured the page does not exist (404): there is no default.

The limiter decides before the password is read: every attempt takes one from
the client's bucket and from a global failure budget, and a right password
gives it back. A locked client (or, past the global budget, everyone) is
refused whatever it sends, the right password included, so a 429 says nothing
about a guess. Passwords are compared as HMAC-SHA256 digests under a key of
this process, so neither their content nor their length shows in the time taken.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from functools import wraps

from flask import Blueprint, Response, abort, render_template, request

from . import results, results_outbound
from .errors import StoreUnavailable
from .limits import RateLimit
from .posters.formats import MEDIA_TYPES
from .posters.options import ERROR_LEVELS, MODES, PAPERS, PosterError, PosterOptions
from .results_charts import Chart
from .services import services_of
from .store import FUNNEL_RETENTION_DAYS, LOGIN_ALL_LOCKED, LOGIN_OK
from .web import client_key, private_page

log = logging.getLogger(__name__)

bp = Blueprint("marketer", __name__, url_prefix="/marketer")

PREVIEW_DPI = 60
#: Wrong passwords one client may try: 10 at once, then one a minute.
FAILED_LOGINS = RateLimit(rate=1, per_seconds=60, burst=10)
#: Wrong passwords all clients together may try: 100 at once, then 60 an hour.
ALL_FAILED_LOGINS = RateLimit(rate=60, per_seconds=3600, burst=100)

#: The key both sides of a password comparison are hashed with: random per process, never stored.
_DIGEST_KEY = secrets.token_bytes(32)


def password_digest(password: str) -> bytes:
    return hmac.new(_DIGEST_KEY, password.encode(), hashlib.sha256).digest()


def _refused_login(status: int) -> Response:
    if status == 429:
        return Response("Too many wrong passwords: wait a few minutes.\n", 429, {"Retry-After": "60"},
                        mimetype="text/plain")
    return Response("Log in with the marketer password.\n", 401,
                    {"WWW-Authenticate": 'Basic realm="Posters", charset="UTF-8"'}, mimetype="text/plain")


def _alert_global_lock(store) -> None:
    """One warning a window while every login is refused (someone is guessing from many addresses)."""
    try:
        first = store.first_alert("login", int(ALL_FAILED_LOGINS.per_seconds * 1000))
    except StoreUnavailable:
        first = False
    if first:
        log.warning("marketer login: the global failure budget is spent, every login is refused for a while",
                    extra={"event": "login_budget"})


def login_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        password = services_of().settings.marketer_password
        if not password:
            abort(404, description="The marketer page is disabled: set MARKETER_PASSWORD to enable it.")
        auth = request.authorization
        if not auth or auth.type != "basic" or not auth.password:
            return _refused_login(401)  # nothing tried: the browser's prompt
        store, client = services_of().store, client_key()
        try:
            attempt = store.login_attempt(client, FAILED_LOGINS, ALL_FAILED_LOGINS)
        except StoreUnavailable:
            attempt = LOGIN_ALL_LOCKED  # no limiter, no login
        if attempt != LOGIN_OK:
            if attempt == LOGIN_ALL_LOCKED:
                _alert_global_lock(store)
            return _refused_login(429)
        if not hmac.compare_digest(password_digest(auth.password), password_digest(password)):
            return _refused_login(401)
        try:
            store.refund_login(client, FAILED_LOGINS, ALL_FAILED_LOGINS)
        except StoreUnavailable:
            pass  # the attempt stays counted: harmless
        return view(*args, **kwargs)

    return wrapper


@bp.after_request
def no_store(response: Response) -> Response:
    return private_page(response, images=True)


def _options() -> tuple[str, PosterOptions]:
    args = request.args
    try:
        distance = float(args.get("distance", "1") or "1")
    except ValueError:
        raise PosterError(f"distance: expected a number of metres, got {args.get('distance')!r}") from None
    slug = args.get("slug") or services_of().book.campaigns[0].slug
    options = PosterOptions(
        paper=args.get("paper", "A4"), distance_m=distance, error=args.get("error", "M"),
        mode=args.get("mode", "direct"), ref=(args.get("ref") or "").strip() or None,
    )
    return slug, options


@bp.get("/")
@login_required
def page() -> Response:
    services = services_of()
    slug, options = _options()
    error = None
    content = None
    try:
        from .posters import layout, poster_content  # reportlab's fonts and the QR drawers: on first use

        content = poster_content(services.book, slug, options, public_base_url=services.settings.public_base_url)
        layout(content, options)
    except PosterError as exc:
        error = str(exc)
    services.conversation.funnel.flush()  # this process's latest counts, as the results page does
    try:
        stats = sorted(services.store.poster_stats().items())
    except StoreUnavailable:
        stats = []
    query = request.query_string.decode("latin-1")
    html = render_template(
        "marketer.html", book=services.book, slug=slug, options=options, error=error, content=content,
        papers=list(PAPERS), modes=MODES, levels=ERROR_LEVELS, query=query, stats=stats,
        preview_dpi=PREVIEW_DPI,
    )
    return Response(html, 400 if error else 200, mimetype="text/html")


@bp.get("/poster.<fmt>")
@login_required
def poster(fmt: str) -> Response:
    if fmt not in MEDIA_TYPES:
        abort(404)
    services = services_of()
    try:
        slug, options = _options()
        from .posters import layout, poster_content, render  # reportlab's fonts and the QR drawers: on first use

        content = poster_content(services.book, slug, options, public_base_url=services.settings.public_base_url)
        dpi = PREVIEW_DPI if request.args.get("preview") else 300
        data = render(layout(content, options), fmt, dpi=dpi)
    except PosterError as exc:
        return Response(f"{exc}\n", 400, mimetype="text/plain")
    headers = {}
    if request.args.get("download"):
        ref_part = "-" + content.ref.lower() if content.ref else ""
        name = f"poster-{content.slug}{ref_part}-{options.paper.lower()}-{options.mode}.{fmt}"
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return Response(data, 200, headers, mimetype=MEDIA_TYPES[fmt])


# -- results


#: The tables /marketer/results.csv writes (`table=`).
CSV_TABLES = ("funnel", "outbound", "errors")


def _results() -> tuple[results.Results | None, results_outbound.Outbound | None, str | None]:
    """The period's funnel and outbound section, or the error in the period asked for."""
    services = services_of()
    try:
        period = results.period_from(request.args, dt.datetime.now(dt.UTC))
    except results.PeriodError as exc:
        return None, None, str(exc)
    services.conversation.funnel.flush()  # this process's latest counts, not a second late
    if services.sms is not None:
        services.sms.counts.flush()
    found = results.funnel(services.store, services.book, period)
    return found, results_outbound.outbound(services.store, period), None


@bp.get("/results")
@login_required
def results_page() -> Response:
    services = services_of()
    try:
        found, sent, error = _results()
    except StoreUnavailable:
        abort(503, description="The results are not available right now (Redis is unreachable).")
    charts = {row.id: Chart.of(row, found.period) for row in found.rows} if found else {}
    try:
        outreach = results_outbound.outreach(services.store, services.book)
    except StoreUnavailable:
        abort(503, description="The results are not available right now (Redis is unreachable).")
    outbound_charts = {row.id: Chart.of(row, sent.period, charted=results_outbound.OUTBOUND_CHARTED)
                       for row in sent.rows} if sent else {}
    html = render_template(
        "results.html", book=services.book, results=found, error=error, charts=charts, columns=results.COLUMNS,
        outbound=sent, outbound_charts=outbound_charts, outbound_columns=results_outbound.OUTBOUND_COLUMNS,
        presets=results.PRESETS, args=request.args, query=request.query_string.decode("latin-1"),
        retention_days=FUNNEL_RETENTION_DAYS, outreach=outreach, outreach_columns=results_outbound.OUTREACH_COLUMNS,
    )
    return Response(html, 400 if error else 200, mimetype="text/html")


@bp.get("/results.csv")
@login_required
def results_csv() -> Response:
    try:
        found, sent, error = _results()
    except StoreUnavailable:
        return Response("The results are not available right now (Redis is unreachable).\n", 503, mimetype="text/plain")
    if error:
        return Response(f"{error}\n", 400, mimetype="text/plain")
    by_step = bool(request.args.get("by_step"))
    table = request.args.get("table", "funnel")
    if table not in CSV_TABLES:
        return Response(f"table: one of {', '.join(CSV_TABLES)}\n", 400, mimetype="text/plain")
    name = f"results-{found.period.start:%Y%m%dT%H}-{found.period.end:%Y%m%dT%H}{'-by-step' if by_step else ''}.csv"
    if table != "funnel":
        name = name.replace("results-", f"results-{table}-", 1)
    if table == "errors":
        body = results_outbound.errors_csv(sent)
    elif table == "outbound":
        body = results_outbound.outbound_csv(sent, by_step=by_step)
    else:
        body = results.to_csv(found, by_step=by_step)
    return Response(body, 200,
                    {"Content-Disposition": f'attachment; filename="{name}"'}, mimetype="text/csv")
