-- wrk script: POST a fixed body with fixed headers, all taken from the
-- environment so that the body is built (and signed) once, outside wrk.
--   BENCH_BODY     path of the file whose bytes are the request body
--   BENCH_HEADERS  extra headers, one "Name: value" per line (optional)
--   BENCH_STOP     stop after this many answers (optional; requests in flight
--                  then may still be served: count what was done server-side)
local path = os.getenv("BENCH_BODY")
if path == nil or path == "" then error("BENCH_BODY is not set") end
local f = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end
local stop = tonumber(os.getenv("BENCH_STOP") or "0")
if stop > 0 then
  local done = 0
  response = function(status, headers, body)
    done = done + 1
    if done >= stop then wrk.thread:stop() end
  end
end
