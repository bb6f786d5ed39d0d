-- A mixed workload: cycle through a list of requests (each its own path, headers and body), one per
-- request sent, in the list's order; benchmarks/mix.py writes the list (80 % benchmark shapes, 20 %
-- varied documents, shuffled once with a fixed seed) and benchmarks/run.py starts it:
--
--   wrk -t1 -c32 -d20s --latency -s benchmarks/wrk/mix.lua URL -- REQUESTS_FILE IGNORED
--
-- REQUESTS_FILE is Lua returning { {path=..., headers={Name=value, ...}, body=[==[...]==]}, ... }. With
-- one wrk thread every connection draws from the same counter, so the mix is exact over each cycle.
-- Errors and the JSON summary are those of post.lua.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local list = dofile(args[1])
  requests = {}
  for i, r in ipairs(list) do
    local headers = {["Content-Type"] = "application/json", ["Accept"] = "application/json"}
    for name, value in pairs(r.headers) do headers[name] = value end
    requests[i] = wrk.format("POST", r.path, headers, r.body)
  end
  counter = 0
  graphql_errors = 0
end

function request()
  counter = counter + 1
  return requests[(counter - 1) % #requests + 1]
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
