"""Every actor is declared on whichever broker the process builds, even a second one."""

from __future__ import annotations

from workers.broker import declare_actors, setup_broker


def test_actors_are_declared_on_a_later_broker_too(settings):
    embedded = settings.model_copy(update={"redis_url": None})
    first = setup_broker(embedded)
    declare_actors(first)
    second = setup_broker(embedded)
    assert "process_content" not in second.actors
    declare_actors(second)
    expected = {"send_account_email", "process_content", "cleanup_abandoned_uploads", "handle_payment_event",
                "send_purchase_email", "migrate_subscription_tier_price"}
    assert expected <= set(second.actors)
    assert second.get_actor("process_content").broker is second
