"""``GET /preview/{token}``: the minimal page behind a preview link's URL (storefronts may serve their own).

The page is static: the server reads no token here. Its script takes the token from the address and asks
``contentPreview(token:)`` (POST /graphql, like any client), then shows the title, the description and a
player; an article's body goes into a sandboxed frame (no scripts, no same-origin access). The page sends no
referrer, so the token never leaves in a Referer header.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

QUERY = ("query($t:String!){contentPreview(token:$t){kind status title description expiresAt "
         "playback{url} body}}")

PAGE = f"""<!doctype html><html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex"><title>Preview</title></head>
<body><main><p id="state" role="status">Loading the preview…</p><h1 id="title"></h1><p id="description"></p>
<div id="media"></div><p id="expires"></p></main>
<script>
const token = decodeURIComponent(location.pathname.split('/').pop() || '');
const show = (id, text) => {{ document.getElementById(id).textContent = text; }};
fetch('/graphql', {{method: 'POST', headers: {{'content-type': 'application/json'}},
  body: JSON.stringify({{query: {QUERY!r}, variables: {{t: token}}}})}})
  .then(r => r.json()).then(body => {{
    const p = body.data && body.data.contentPreview;
    if (!p) {{ show('state', 'This preview link does not work: it is wrong, expired or revoked.'); return; }}
    show('state', 'Preview (' + p.status.toLowerCase() + ')');
    show('title', p.title);
    show('description', p.description);
    show('expires', 'This link works until ' + new Date(p.expiresAt).toLocaleString() + '.');
    const media = document.getElementById('media');
    if (p.playback) {{
      const player = document.createElement(p.kind === 'AUDIO' ? 'audio' : 'video');
      player.controls = true; player.src = p.playback.url; media.appendChild(player);
    }} else if (p.body) {{
      const frame = document.createElement('iframe');
      frame.setAttribute('sandbox', ''); frame.srcdoc = p.body; frame.style.width = '100%';
      media.appendChild(frame);
    }}
  }}).catch(() => show('state', 'Something went wrong.'));
</script></body></html>"""


# Its own policy: the inline script may call /graphql only; media and images may come from the storage's origin
# (S3 is another one); the body's frame inherits it (and its sandbox runs nothing).
CSP = ("default-src 'none'; script-src 'unsafe-inline'; connect-src 'self'; media-src *; img-src * data:; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


async def preview_page(request: Request) -> Response:
    return HTMLResponse(PAGE, headers={"referrer-policy": "no-referrer", "cache-control": "no-store",
                                       "content-security-policy": CSP, "x-robots-tag": "noindex"})


def preview_routes() -> list[Route]:
    return [Route("/preview/{token}", preview_page, methods=["GET"])]
