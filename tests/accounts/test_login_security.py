"""Sign-in security: an unlock notice by email when sign-in delays start, and new-device sign-ins audited and mailed."""

from __future__ import annotations

import json

from codex_graphql.accounts import throttle
from codex_graphql.accounts.service import network_of
from tests.support.accounts import LINK_RE, LOGIN, register, unique_email


async def security_jobs(admin_db, kind: str) -> list[tuple[str, dict]]:
    rows = await admin_db.fetch("select id, payload from outbox_message where topic = 'send_security_email' "
                                "order by created_at, id")
    jobs = [(str(r["id"]), json.loads(r["payload"])) for r in rows]
    return [job for job in jobs if job[1]["kind"] == kind]


async def run_security_job(job_id: str, payload: dict) -> None:
    import asyncio

    from workers import actors

    await asyncio.to_thread(actors.send_security_email.fn, job_id=job_id, **payload)


async def test_failures_send_one_unlock_notice_per_window_with_links(gql, admin_db, email_jobs, mailbox, settings,
                                                                     monkeypatch):
    monkeypatch.setattr(throttle, "BASE_DELAY_SECONDS", 60.0)  # no delay ends while the test runs
    address = unique_email("locked")
    await register(gql, address, name="Lou")
    limit = settings.login_max_failures
    for n in range(limit - 1):
        failed = (await gql(LOGIN, {"i": {"email": address, "password": f"wrong {n}"}}))["data"]["login"]
        assert failed["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert await security_jobs(admin_db, "sign_in_unlock") == []
    # The failure that reaches the limit starts the delays; the refusal itself changes nothing else, but the notice is kept.
    failed = (await gql(LOGIN, {"i": {"email": address, "password": "wrong again"}}))["data"]["login"]
    assert failed["errors"][0]["code"] == "INVALID_CREDENTIALS" and failed["token"] is None
    for _ in range(3):
        throttled = (await gql(LOGIN, {"i": {"email": address.upper(), "password": "still wrong"}}))["data"]["login"]
        assert throttled["errors"][0]["code"] == "THROTTLED"
    [(job_id, payload)] = await security_jobs(admin_db, "sign_in_unlock")
    user_id = await admin_db.fetchval("select id from user_account where email = $1", address)
    assert payload == {"kind": "sign_in_unlock", "user_id": str(user_id)}

    await run_security_job(job_id, payload)
    await run_security_job(job_id, payload)  # a redelivery sends nothing more
    [mail] = await mailbox.wait_for(address)
    assert mail.subject == "Failed sign-in attempts on your account"
    assert "Hello Lou," in mail.text and "not locked" in mail.text and "/account/unlock?token=" in mail.text
    assert LINK_RE.search(mail.text).group(1) == "reset-password"
    assert len(mailbox.to(address)) == 1

    # Unknown addresses get throttled too, but there is nobody to tell.
    stranger = unique_email("nobody")
    for n in range(limit):
        await gql(LOGIN, {"i": {"email": stranger, "password": f"x{n}"}})
    assert len(await security_jobs(admin_db, "sign_in_unlock")) == 1


async def test_sign_in_from_a_new_device_is_audited_and_mailed_once(gql, http, admin_db, email_jobs, mailbox):
    address = unique_email("device")
    await register(gql, address, name="Dee")  # the first session: python-httpx from 203.0.113.7
    user_id = await admin_db.fetchval("select id from user_account where email = $1", address)
    same = (await gql(LOGIN, {"i": {"email": address, "password": "correct horse battery staple"}}))["data"]["login"]
    assert same["errors"] == []
    assert await admin_db.fetchval("select count(*) from audit_log_entry") == 0

    response = await gql.raw(LOGIN, {"i": {"email": address, "password": "correct horse battery staple"}},
                             headers={"user-agent": "Firefox/999 (Unknown OS)"})
    assert response.json()["data"]["login"]["errors"] == []
    [entry] = await admin_db.fetch("select * from audit_log_entry")
    assert entry["action"] == "LOGIN_NEW_DEVICE" and entry["organization_id"] is None
    assert entry["actor_user_id"] == user_id and (entry["target_type"], entry["target_id"]) == ("User", user_id)
    assert entry["request_id"] == response.headers["x-request-id"]
    assert (entry["ip"], entry["user_agent"]) == ("203.0.113.7", "Firefox/999 (Unknown OS)")
    after = json.loads(entry["after"])
    assert after["userAgent"] == "Firefox/999 (Unknown OS)" and after["ip"] == "203.0.113.7"

    # The same device again: nothing new.
    await gql.raw(LOGIN, {"i": {"email": address, "password": "correct horse battery staple"}},
                  headers={"user-agent": "Firefox/999 (Unknown OS)"})
    assert await admin_db.fetchval("select count(*) from audit_log_entry") == 1

    [(job_id, payload)] = await security_jobs(admin_db, "new_sign_in")
    assert payload == {"kind": "new_sign_in", "user_id": str(user_id), "entry_id": str(entry["id"])}
    await run_security_job(job_id, payload)
    await run_security_job(job_id, payload)
    [mail] = await mailbox.wait_for(address)
    assert mail.subject == "New sign-in to your account"
    assert "Firefox/999 (Unknown OS)" in mail.text and "203.0.113.7" in mail.text and "Hello Dee," in mail.text
    assert LINK_RE.search(mail.text).group(1) == "reset-password"


def test_networks_compare_ipv4_by_24_and_ipv6_by_48():
    assert network_of("203.0.113.7") == network_of("203.0.113.200") == "203.0.113.0/24"
    assert network_of("203.0.114.7") != network_of("203.0.113.7")
    assert network_of("2001:db8:1:2::1") == network_of("2001:db8:1:ffff::9")
    assert network_of("testclient") == "testclient"
