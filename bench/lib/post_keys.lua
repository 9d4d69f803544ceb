-- wrk script: durable POST /keys, each request for the next resource so the
-- per-resource max_keys limit (20) is never reached.
--   BENCH_ADMIN_KEY  the admin key (Authorization: Bearer)
--   BENCH_RUN        a tag that makes the resources of this run unique
--   BENCH_PER_RES    keys per resource (default 10)
--   BENCH_STOP       stop after this many responses (optional; wrk then
--                    reports the rate over the time it actually ran)
local admin = os.getenv("BENCH_ADMIN_KEY") or error("BENCH_ADMIN_KEY is not set")
local run = os.getenv("BENCH_RUN") or "0"
local per = tonumber(os.getenv("BENCH_PER_RES") or "10")
local stop = tonumber(os.getenv("BENCH_STOP") or "0")
local n, done = 0, 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. admin
request = function()
  local res = math.floor(n / per)
  n = n + 1
  return wrk.format(nil, nil, nil,
    '{"resource":"room:' .. run .. '-' .. res .. '","scopes":["read"]}')
end
response = function(status, headers, body)
  done = done + 1
  if stop > 0 and done >= stop then wrk.thread:stop() end
end
