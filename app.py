"""Application factory: ``create_app(config=None)``. Nothing else lives here."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask
from flask_migrate import Migrate

from channels import register as register_channels
from core import api_views, auth, sso_views, web
from core import config as settings
from core.api import make_api
from core.auth import login_manager
from core.cli import register_cli as register_core_cli
from core.db import db, tune_engines
from core.handlers import register_error_handlers as register_core_error_handlers
from core.jsonio import JSONProvider
from core.logs import configure as configure_logging
from core.metrics import register_metrics
from core.routing import LazyBuilderRule
from core.security import ForwardedClient, register_security
from handover import register as register_handover
from insights import register as register_insights
from notifications import register as register_notifications
from rota import register as register_rota

migrate = Migrate()


def create_app(config: Mapping | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.json = JSONProvider(app)  # Flask's JSON, the compact case written by orjson
    app.url_rule_class = LazyBuilderRule
    register_config(app, config)
    register_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_cli(app)
    return app


def register_config(app: Flask, config: Mapping | None) -> None:
    app.config.from_mapping(settings.DEFAULTS)
    if config is None or "SQLALCHEMY_DATABASE_URI" not in config or "SECRET_KEY" not in config:
        app.config.from_mapping(settings.load(app.instance_path))
    app.config.from_mapping(config or {})

    configure_logging(app)


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    tune_engines(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/migrations"), render_as_batch=True, compare_type=True)
    app.wsgi_app = ForwardedClient(app.wsgi_app, app.config)  # the client's address behind PROXY_FIX proxies
    register_security(app)
    login_manager.init_app(app)
    make_api(app)
    register_metrics(app)


def register_blueprints(app: Flask) -> None:
    api = app.extensions["shiftbridge_api"]
    app.register_blueprint(web.bp)
    app.register_blueprint(auth.bp)
    sso_views.register(app)
    api.register_blueprint(api_views.blp)
    for register in (register_notifications, register_rota, register_handover, register_channels, register_insights):
        register(app, api)


def register_error_handlers(app: Flask) -> None:
    register_core_error_handlers(app)


def register_cli(app: Flask) -> None:
    register_core_cli(app)
