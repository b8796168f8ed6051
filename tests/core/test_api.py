"""The API skeleton: auth, problem+json errors, users, health."""

from core.db import db


def test_me_needs_auth_and_says_how(client):
    resp = client.get("/api/v1/me")
    assert resp.status_code == 401 and resp.mimetype == "application/problem+json"
    assert "Bearer" in resp.headers["WWW-Authenticate"]
    assert resp.json["title"] == "Unauthorized" and "token" in resp.json["detail"]


def test_me_lists_team_roles(client, make, bearer):
    nurse = make.user(display_name="Sam Okafor")
    team = make.team("Ward 7B", staff=[nurse])
    resp = client.get("/api/v1/me", headers=bearer(make.token(nurse)))
    assert resp.status_code == 200
    assert resp.json["display_name"] == "Sam Okafor"
    assert resp.json["memberships"] == [{"team_id": team.id, "team_name": "Ward 7B", "role": "staff"}]
    assert "password_hash" not in resp.json


def test_users_is_admin_only(client, make, bearer):
    assert client.get("/api/v1/users", headers=bearer(make.token(make.user()))).status_code == 403
    resp = client.get("/api/v1/users", headers=bearer(make.token(make.admin())))
    assert resp.status_code == 200 and resp.json["total"] == 2


def test_create_user_validation_is_per_field(client, make, bearer):
    headers = bearer(make.token(make.admin()))
    resp = client.post("/api/v1/users", headers=headers, json={
        "email": "not-an-email", "display_name": "", "password": "short", "grade": "Band 99"})
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert {"email", "display_name", "password", "grade"} <= set(resp.json["errors"])


def test_create_user_mobile_and_duplicates(client, make, bearer):
    headers = bearer(make.token(make.admin()))
    body = {"email": "Aisha.Khan@Example.test", "display_name": "Aisha Khan", "password": "long enough pw",
            "mobile": "07700 900123", "grade": "Band 6", "skills": ["IV-trained"]}
    resp = client.post("/api/v1/users", headers=headers, json=body)
    assert resp.status_code == 201
    assert resp.json["email"] == "aisha.khan@example.test" and resp.json["mobile"] == "+447700900123"
    resp = client.post("/api/v1/users", headers=headers, json=body)
    assert resp.status_code == 409 and "email" in resp.json["errors"]
    resp = client.post("/api/v1/users", headers=headers, json={**body, "email": "x@example.test", "mobile": "12"})
    assert resp.status_code == 422 and "mobile" in resp.json["errors"]


def test_nul_and_surrogates_are_refused_not_500(client, make, bearer):
    headers = bearer(make.token(make.admin()))
    resp = client.post("/api/v1/users", headers=headers, data='{"email":"a@b.test","display_name":"x\\u0000y",'
                       '"password":"long enough pw"}', content_type="application/json")
    assert resp.status_code == 422 and "display_name" in resp.json["errors"]
    resp = client.post("/api/v1/users", headers=headers, data='{"email":"a@b.test","display_name":"\\ud800",'
                       '"password":"long enough pw"}', content_type="application/json")
    assert resp.status_code == 422


def test_malformed_json_is_a_clear_error(client, make, bearer):
    headers = bearer(make.token(make.admin()))
    resp = client.post("/api/v1/users", headers=headers, data="{not json", content_type="application/json")
    assert resp.status_code in (400, 422) and resp.mimetype == "application/problem+json"


def test_unknown_api_path_is_problem_json(client):
    resp = client.get("/api/v1/nothing-here")
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"


def test_unknown_page_is_styled_html(client):
    resp = client.get("/nothing-here")
    assert resp.status_code == 404 and "text/html" in resp.content_type and "nhsuk-header" in resp.get_data(True)


def test_500_rolls_back_and_shows_no_trace(app, client, make):
    from core.accounts import Team

    @app.get("/boom")
    def boom():
        db.session.add(Team(name="half-made"))
        db.session.flush()
        raise RuntimeError("secret internals")

    resp = client.get("/boom")
    assert resp.status_code == 500
    body = resp.get_data(as_text=True)
    assert "secret internals" not in body and "Traceback" not in body and "Nothing was saved" in body
    assert db.session.scalar(db.select(db.func.count()).select_from(Team)) == 0


def test_healthz(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json["database"] == "reachable"  # and each package's checks (worker)


def test_openapi_document_and_docs_page(client):
    spec = client.get("/api/v1/openapi.json").json
    assert {"/api/v1/me", "/api/v1/users", "/api/v1/audit"} <= set(spec["paths"])
    assert "bearerAuth" in spec["components"]["securitySchemes"]
    assert client.get("/api/v1/docs").status_code == 200
