-- Shared by the load scripts: the key comes from the environment, and done()
-- prints one JSON line the runner parses. Only 2xx answers count: ingest
-- answers 204 only after the data is committed, so they are durable items.
local M = {}

function M.headers()
  return {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. (os.getenv("TT_KEY") or ""),
  }
end

function M.done(items_per_request)
  return function(summary, latency, requests)
    local ok = summary.requests - summary.errors.status
    local secs = summary.duration / 1e6
    io.write(string.format(
      '{"requests":%d,"non_2xx":%d,"socket_errors":%d,"seconds":%.3f,"ok_per_s":%.1f,"items_per_s":%.1f,"p50_ms":%.2f,"p99_ms":%.2f}\n',
      summary.requests, summary.errors.status,
      summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
      secs, ok / secs, ok * items_per_request / secs,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  end
end

-- A realistic V8 stack of roughly `bytes` bytes whose frames belong to `group`.
function M.stack(group, bytes, line_offset)
  local parts = { string.format("TypeError: Cannot read properties of undefined (reading 'field%d')", group) }
  local size, i = #parts[1], 0
  while size < bytes do
    i = i + 1
    local frame = string.format(
      "    at module%d.handler%d_step%d (https://app.example.com/assets/chunks/module%d-%08x.js:%d:%d)",
      group, group, i, group, 3735928559 - group, 100 + i + line_offset, 10 + (i * 7) % 80)
    parts[#parts + 1] = frame
    size = size + #frame + 1
  end
  return table.concat(parts, "\n")
end

return M
