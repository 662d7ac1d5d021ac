from __future__ import annotations


def test_static_files_are_served_by_the_app_without_login(client, db):
    response = client.get("/static/regscan/app.css")
    assert response.status_code == 200
    assert b"--brand" in b"".join(response.streaming_content)
