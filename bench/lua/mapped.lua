-- Errors whose 25-frame stacks point into the benchmark's minified bundle
-- (bench/sourcemaps.sh): 100 groups, 10 variants each (other ids in the
-- message). BUNDLE_COLUMNS is the length of the bundle's single line.
package.path = "bench/lua/?.lua;" .. package.path
local c = require("common")
local columns = tonumber(os.getenv("BUNDLE_COLUMNS") or "1000000")
local requests, n = {}, 0
local headers = c.headers()
for group = 1, 100 do
  local frames = {}
  for k = 1, 25 do
    local column = (group * 7919 + k * 104729) % columns + 1
    frames[k] = string.format("    at h%d (https://cdn.example.com/assets/big.js?v=%d:1:%d)", k, group, column)
  end
  local stack = "TypeError: unsupported currency\\n" .. table.concat(frames, "\\n")
  for variant = 1, 10 do
    local body = string.format(
      '{"app":"web-shop","message":"unsupported currency in order %d","stack":"%s","platform":"web","environment":"production","release":"web@bench","session_id":"s-%d-%d","sdk_version":"1.3.0"}',
      variant * 7919 + group, stack, group, variant)
    n = n + 1
    requests[n] = wrk.format("POST", "/ingest/error", headers, body)
  end
end
local i = 0
request = function()
  i = i % n + 1
  return requests[i]
end
done = c.done(1)
