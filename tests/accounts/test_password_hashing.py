"""The production hasher is Argon2id with strong parameters (the suite itself uses cheap ones)."""

from __future__ import annotations

import subprocess
import sys


def test_default_hasher_is_argon2id_with_strong_parameters():
    script = ("from codex_graphql.accounts import security as s; h = s._hasher; "
              "print(h.type.name, h.memory_cost, h.time_cost, h.parallelism)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True).stdout
    kind, memory, time_cost, parallelism = out.split()
    assert kind == "ID"
    assert int(memory) >= 19_456 and int(time_cost) >= 2  # OWASP's Argon2id minimums
    assert int(parallelism) >= 1


async def test_fast_hashes_upgrade_on_sign_in(factory, admin_db, monkeypatch):
    from argon2 import PasswordHasher

    from codex_graphql.accounts import security

    person = await factory.user()
    cheap = await admin_db.fetchval("select password_hash from user_account where id = $1", person.user_id)
    assert "m=1024" in cheap
    monkeypatch.setattr(security, "_hasher", PasswordHasher())
    await factory.login(person.email)
    upgraded = await admin_db.fetchval("select password_hash from user_account where id = $1", person.user_id)
    assert upgraded != cheap and "m=65536" in upgraded
