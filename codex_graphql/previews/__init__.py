"""Content preview links: an unguessable, expiring, revocable link that shows a draft (and plays its media) to
whoever holds it, without an account, an entitlement or a counted view.

Staff create and revoke links (``mutations.py``) and list an item's links (``Content.previewLinks``,
``queries.py``); the holder reads ``contentPreview(token:)``. Only the SHA-256 of a token is stored; the token
itself is shown once, in ``createContentPreviewLink``'s payload. The holder has no tenant scope: the one read
runs in the SECURITY DEFINER function ``codex_content_preview`` (migration 0030), which returns the item of a
valid, unexpired, unrevoked link and nothing else; ``content``'s own policy is unchanged."""
