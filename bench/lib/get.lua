-- wrk script: GET with fixed headers taken from the environment.
--   BENCH_HEADERS  extra headers, one "Name: value" per line (optional)
wrk.method = "GET"
for line in (os.getenv("BENCH_HEADERS") or ""):gmatch("[^\n]+") do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then wrk.headers[name] = value end
end
