"""The application factory: Flask, the blueprints and the error page around the wired `Services`."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

from . import health, landing, marketer, receipts, sms, web
from .config import Settings
from .delivery import start_in_thread
from .logs import configure_logging
from .services import Services


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Flask:
    """Build the Flask app. With no arguments, configuration comes from the environment."""
    configure_logging()
    if services is None:
        services = Services.build(settings or Settings.from_env())
    app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # Twilio's form is a few KB; refuse floods early.
    services.init_app(app)
    web.init_app(app)
    if services.settings.embedded_store and services.sms is not None:
        # The embedded store lives in this process only, so its worker must too.
        start_in_thread(services.late_delivery())

    app.register_blueprint(sms.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(landing.bp)
    app.register_blueprint(marketer.bp)
    app.register_blueprint(receipts.bp)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        page = render_template("error.html", code=exc.code, title=exc.name, message=exc.description)
        return page, exc.code

    return app
