// Runs every audit of graphql-http's `serverAudits` (the GraphQL-over-HTTP spec's own conformance suite)
// against a live server and prints the results as JSON on stdout, one object per audit:
//   node audit.mjs http://127.0.0.1:8000/graphql
// {id, name, status: "ok" | "notice" | "warn" | "error" | "fatal", reason?, responseStatus?,
//  responseContentType?, responseBody?}. Used by tests/http/test_graphql_http_spec.py.
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql url>');
  process.exit(2);
}

async function describe(response) {
  if (!response) return {};
  let body;
  try {
    body = (await response.clone().text()).slice(0, 1000);
  } catch (err) {
    body = `<unreadable: ${err}>`;
  }
  return { responseStatus: response.status, responseContentType: response.headers.get('content-type'), responseBody: body };
}

const results = [];
// One audit at a time: the order is stable and the server sees no burst.
for (const audit of serverAudits({ url })) {
  try {
    const result = await audit.fn();
    const entry = { id: result.id, name: result.name, status: result.status };
    if (result.status !== 'ok') Object.assign(entry, { reason: result.reason }, await describe(result.response));
    results.push(entry);
  } catch (err) {
    // graphql-http treats anything but an assertion failure as fatal (e.g. the request itself failed).
    results.push({ id: audit.id, name: audit.name, status: 'fatal', reason: String(err && err.stack || err) });
  }
}
process.stdout.write(JSON.stringify(results));
