"""The account email job for real: the actor against a local SMTP server, then a real worker process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiosmtplib
import pytest

from tests.support.accounts import (
    REQUEST_RESET,
    VERIFY,
    account_jobs,
    counts,
    free_port,
    register,
    sha256,
    unique_email,
    user_row,
    viewer,
)

ROOT = Path(__file__).resolve().parents[2]


async def test_verification_job_mails_a_link_that_opens_the_confirmation_page(gql, http, admin_db, email_jobs, mailbox,
                                                                             mail_settings):
    address = unique_email("verify")
    await register(gql, address, name="Grace <Hopper>")
    [(job_id, payload)] = await account_jobs(admin_db)
    assert payload == {"kind": "verify_email", "user_id": str((await user_row(admin_db, address))["id"])}

    await email_jobs.run(job_id, payload)

    [mail] = mailbox.received
    assert mail.envelope_to == [address]
    assert mail.message["To"] == address
    assert mail.message["From"] == mail_settings.mail_from
    assert mail.subject == "Confirm your email address"
    assert "Hello Grace <Hopper>," in mail.text
    assert "expires in 24 hours" in mail.text
    assert mail.link == f"http://testserver/account/verify-email?token={mail.token}"
    # The HTML alternative carries the same link, with the name escaped.
    assert f'href="{mail.link}"' in mail.html
    assert "Grace &lt;Hopper&gt;" in mail.html and "<Hopper>" not in mail.html

    page = await http.get(mail.link)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "Confirm your email" in page.text and "verifyEmail" in page.text

    # Only the hash of the mailed token is stored; the job is recorded as done.
    assert await admin_db.fetchval("select token_hash from email_token") == sha256(mail.token)
    assert await admin_db.fetchval(
        "select count(*) from processed_message where consumer = 'send_account_email' and message_id = $1::uuid", job_id
    ) == 1

    # The link's token confirms the address.
    verified = (await gql(VERIFY, {"i": {"token": mail.token}}))["data"]["verifyEmail"]
    assert verified == {"errors": [], "viewer": {"email": address, "emailVerified": True}}


async def test_running_the_same_job_twice_sends_one_mail(gql, admin_db, email_jobs, mailbox):
    address = unique_email("twice")
    await register(gql, address)
    [job] = await account_jobs(admin_db)
    await email_jobs.run(*job)
    state = await counts(admin_db)
    await email_jobs.run(*job)
    await email_jobs.run(*job)
    assert len(mailbox.to(address)) == 1
    assert await counts(admin_db) == state  # no second token, no second claim


async def test_reset_job_mails_a_link_that_opens_the_password_page(gql, http, admin_db, email_jobs, mailbox):
    address = unique_email("reset")
    await register(gql, address)
    await gql.ok(REQUEST_RESET, {"i": {"email": address}})
    mail = await email_jobs.mail_for(address, "reset_password")
    assert mail.subject == "Reset your password"
    assert "expires in 60 minutes" in mail.text
    assert mail.link == f"http://testserver/account/reset-password?token={mail.token}"
    page = await http.get(mail.link)
    assert page.status_code == 200
    assert 'type="password"' in page.text and "resetPassword" in page.text


async def test_a_job_for_an_unknown_address_sends_nothing(gql, admin_db, email_jobs, mailbox):
    await gql.ok(REQUEST_RESET, {"i": {"email": "nobody.here@example.com"}})
    [(job_id, payload)] = await account_jobs(admin_db)
    await email_jobs.run(job_id, payload)
    assert mailbox.received == []
    assert await admin_db.fetchval("select count(*) from email_token") == 0
    assert await admin_db.fetchval("select count(*) from processed_message") == 1


async def test_an_unknown_kind_sends_nothing(gql, admin_db, email_jobs, mailbox):
    address = unique_email("kind")
    await register(gql, address)
    user_id = str((await user_row(admin_db, address))["id"])
    await email_jobs.run("00000000-0000-4000-8000-000000000001", {"kind": "newsletter", "user_id": user_id})
    assert mailbox.received == []
    assert await admin_db.fetchval("select count(*) from email_token") == 0


async def test_a_failed_send_leaves_the_job_unclaimed_so_the_retry_sends_it(gql, admin_db, email_jobs, mailbox,
                                                                           mail_settings):
    address = unique_email("retry")
    await register(gql, address)
    [job] = await account_jobs(admin_db)
    before = await counts(admin_db)

    await email_jobs.configure(mail_settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{free_port()}"}))
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await email_jobs.run(*job)  # Dramatiq retries the message after this error
    assert await counts(admin_db) == before  # neither the claim nor the token survived

    await email_jobs.configure(mail_settings)
    await email_jobs.run(*job)
    [mail] = mailbox.to(address)
    assert await admin_db.fetchval("select token_hash from email_token") == sha256(mail.token)
    assert (await gql(VERIFY, {"i": {"token": mail.token}}))["data"]["verifyEmail"]["errors"] == []


# --- a real worker process ------------------------------------------------------------------------


def _python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the worker's main process (it stops its children), wait a bounded time, then kill the group."""
    if process.poll() is not None:
        return
    try:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


async def test_a_worker_process_delivers_the_verification_mail(gql, admin_db, settings, mailbox):
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "REDIS_NAMESPACE": settings.redis_namespace,
        "SMTP_URL": mailbox.url,
        "PUBLIC_BASE_URL": "http://testserver",
        "LOG_JSON": "false",
    }
    env.pop("ACCOUNT_LINK_BASE_URL", None)
    with tempfile.TemporaryFile() as log:
        worker = subprocess.Popen(  # noqa: ASYNC220 (started once, stopped in `finally`)
            [_python(), "-m", "dramatiq", "workers.main", "--processes", "1", "--threads", "1"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            address = unique_email("worker")
            token = (await register(gql, address))["token"]  # the app's outbox relay sends the job to Redis

            deadline = time.monotonic() + 30
            while not mailbox.to(address):
                if worker.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise AssertionError(f"no mail (worker exit code {worker.returncode}):\n{log.read().decode()}")
                await asyncio.sleep(0.1)
            [mail] = mailbox.to(address)
            assert mail.link.startswith("http://testserver/account/verify-email?token=")

            verified = (await gql(VERIFY, {"i": {"token": mail.token}}))["data"]["verifyEmail"]
            assert verified == {"errors": [], "viewer": {"email": address, "emailVerified": True}}
            assert (await viewer(gql, token))["emailVerified"] is True
            # The outbox id travelled as the job id, and the job ran once.
            [(job_id, _)] = await account_jobs(admin_db)
            assert await admin_db.fetchval(
                "select count(*) from processed_message where message_id = $1::uuid", job_id) == 1
            assert await admin_db.fetchval("select published_at from outbox_message") is not None
            assert len(mailbox.to(address)) == 1
        finally:
            await asyncio.to_thread(_stop, worker)
        # It shut down cleanly: relay stopped and connections closed before the event loop.
        log.seek(0)
        output = log.read().decode()
        assert worker.returncode == 0, output
        assert "outbox relay stopped, connections closed" in output
