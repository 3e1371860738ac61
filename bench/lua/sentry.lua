-- Sentry error envelopes as @sentry/node 11 sends them (no Content-Type, the key in
-- the query string, ~2.5 KB: exception with 10 frames, tags, contexts,
-- breadcrumbs, sdk), over 100 groups. The project is the database's first
-- (number 1); the DSN key is TT_KEY's public id.
package.path = "bench/lua/?.lua;" .. package.path
local c = require("common")
local public = string.match(os.getenv("TT_KEY") or "", "tt_live_(%x+)_") or ""
local path = "/api/1/envelope/?sentry_version=7&sentry_key=" .. public ..
  "&sentry_client=sentry.javascript.node%2F11.12.0"
local requests, n = {}, 0
for group = 1, 100 do
  local frames = {}
  for k = 1, 10 do
    frames[k] = string.format(
      '{"filename":"/app/src/orders/handler%d.js","module":"handler%d","function":"step%d_%d","lineno":%d,"colno":%d,"in_app":true}',
      group, group, group, k, 10 + k, 3 + k)
  end
  for variant = 1, 10 do
    local event = string.format(
      '{"event_id":"%032x","timestamp":1796162538.359,"platform":"node","level":"error","release":"api@1.4.%d","environment":"production","server_name":"web-1",' ..
      '"exception":{"values":[{"type":"TypeError","value":"Cannot read properties of undefined (reading \'field%d\') for order %d","mechanism":{"type":"generic","handled":true},"stacktrace":{"frames":[%s]}}]},' ..
      '"tags":{"handler":"checkout","region":"eu"},"user":{"id":"u-%d"},"extra":{"attempt":%d},' ..
      '"contexts":{"runtime":{"name":"node","version":"v20.20.2"},"os":{"name":"Debian","version":"12.11"},"trace":{"trace_id":"%032x","span_id":"%016x"}},' ..
      '"breadcrumbs":[{"timestamp":1796162538.1,"category":"http","data":{"url":"https://api.example.com/orders/%d","status_code":200}},{"timestamp":1796162538.2,"category":"console","message":"processing order %d"}],' ..
      '"sdk":{"name":"sentry.javascript.node","version":"11.12.0","integrations":["Http","Console","OnUncaughtException"]}}',
      group * 1000 + variant, variant, group, variant * 7919, table.concat(frames, ","), variant, variant,
      group * 1000 + variant, group, variant, variant)
    local body = string.format('{"event_id":"%032x","sent_at":"2026-12-01T22:02:18.362Z","sdk":{"name":"sentry.javascript.node","version":"11.12.0"}}\n{"type":"event"}\n%s',
      group * 1000 + variant, event)
    n = n + 1
    requests[n] = wrk.format("POST", path, {}, body)
  end
end
local i = 0
request = function()
  i = i % n + 1
  return requests[i]
end
done = c.done(1)
