-- wrk script for bench/pages.py: counts every answer that is not a 2xx (wrk's own
-- "Non-2xx or 3xx responses" line lets redirects pass) and prints "non-2xx: N" at the end.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local n = 0
  for _, thread in ipairs(threads) do
    n = n + thread:get("bad")
  end
  io.write(string.format("non-2xx: %d\n", n))
end
