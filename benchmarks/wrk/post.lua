-- POST one fixed request body (a GraphQL request, or the raw server's / PostGraphile's equivalent)
-- on every keep-alive connection, and print a JSON summary for benchmarks/run.py.
--
--   wrk -t1 -c32 -d20s --latency -s benchmarks/wrk/post.lua URL -- BODY_FILE [HEADER_FILE]
--
-- BODY_FILE holds the exact request body; HEADER_FILE (optional) one "Name: value" header per line
-- (Authorization, Content-Type, ...). A 200 response whose body carries a GraphQL `"errors":[` is counted
-- as an error, like a non-2xx status (wrk's own `status` count).

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local function read_file(path)
  local handle = assert(io.open(path, "rb"))
  local text = handle:read("*a")
  handle:close()
  return text
end

function init(args)
  wrk.method = "POST"
  wrk.body = read_file(args[1])
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = "application/json"
  if args[2] and args[2] ~= "" then
    for line in io.lines(args[2]) do
      local name, value = line:match("^([^:]+):%s*(.*)$")
      if name then wrk.headers[name] = value end
    end
  end
  graphql_errors = 0
  bytes_seen = 0
end

function response(status, headers, body)
  if status == 200 and body and body:find('"errors":[', 1, true) then
    graphql_errors = graphql_errors + 1
  end
end

function done(summary, latency, requests)
  local errors = 0
  for _, thread in ipairs(threads) do
    errors = errors + (thread:get("graphql_errors") or 0)
  end
  local e = summary.errors
  local parts = {
    string.format('"requests":%d', summary.requests),
    string.format('"duration_us":%d', summary.duration),
    string.format('"bytes":%d', summary.bytes),
    string.format('"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d',
      e.connect, e.read, e.write, e.status, e.timeout),
    string.format('"graphql_errors":%d', errors),
    string.format('"latency_mean_us":%.1f,"latency_stdev_us":%.1f,"latency_max_us":%d',
      latency.mean, latency.stdev, latency.max),
  }
  for _, p in ipairs({50, 90, 95, 99, 99.9}) do
    table.insert(parts, string.format('"latency_p%s_us":%d', tostring(p):gsub("%.", "_"), latency:percentile(p)))
  end
  io.write("WRK_JSON " .. "{" .. table.concat(parts, ",") .. "}\n")
end
