-- `lab fault search-flood`'s generator (wrk, one connection per concurrent search): every
-- request is a search no one has sent before, so no cache (edge, Redis, the process's own)
-- can answer it. Statuses are counted per thread and summed in done(); a 503 without a
-- Retry-After header is counted apart. args: a per-run nonce (runs never repeat either).

local words = {"river", "silent", "iron", "harbor", "night", "city", "dream", "storm", "last", "gold"}
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  nonce = args[1] or "0"
  sent = 0
  counts = {}
  no_retry_after = 0
end

function request()
  sent = sent + 1
  local word = words[(sent % #words) + 1]
  local path = "/movies?q=" .. word .. "+x" .. nonce .. "t" .. tid .. "n" .. sent
  return wrk.format("GET", path)
end

function response(status, headers, body)
  local key = tostring(status)
  counts[key] = (counts[key] or 0) + 1
  if status == 503 and headers["Retry-After"] == nil and headers["retry-after"] == nil then
    no_retry_after = no_retry_after + 1
  end
end

function done(summary, latency, requests)
  local parts = {}
  local totals = {}
  local missing = 0
  for _, thread in ipairs(threads) do
    for k, v in pairs(thread:get("counts")) do
      totals[k] = (totals[k] or 0) + v
    end
    missing = missing + thread:get("no_retry_after")
  end
  for k, v in pairs(totals) do
    table.insert(parts, string.format('"%s": %d', k, v))
  end
  local e = summary.errors
  io.write(string.format(
    'FLOOD_JSON {"statuses": {%s}, "shed_without_retry_after": %d, "requests": %d, ' ..
    '"duration_us": %d, "socket_errors": {"connect": %d, "read": %d, "write": %d, ' ..
    '"timeout": %d}, "latency_mean_us": %.1f, "latency_p50_us": %d, ' ..
    '"latency_p99_us": %d, "latency_max_us": %d}\n',
    table.concat(parts, ", "), missing, summary.requests, summary.duration,
    e.connect, e.read, e.write, e.timeout, latency.mean, latency:percentile(50),
    latency:percentile(99), latency.max))
end
