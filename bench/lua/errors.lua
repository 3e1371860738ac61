-- Errors over 100 groups. STACK_BYTES sets the stack size (default 3000); each
-- group has 10 variants with other ids in the message and shifted line numbers,
-- as the same bug looks across releases.
package.path = "bench/lua/?.lua;" .. package.path
local c = require("common")
local stack_bytes = tonumber(os.getenv("STACK_BYTES") or "3000")
local requests, n = {}, 0
local headers = c.headers()
for group = 1, 100 do
  for variant = 1, 10 do
    local body = string.format(
      '{"app":"web-shop","message":"Cannot read properties of undefined (reading \'field%d\') for order %d","stack":"%s","platform":"web","environment":"production","release":"web@1.4.%d","session_id":"s-%d-%d","user_id":"u-%d","sdk_version":"1.3.0","context":{"source":"window.onerror"}}',
      group, variant * 7919, c.stack(group, stack_bytes, variant * 13):gsub("\n", "\\n"), variant, group, variant, variant)
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
