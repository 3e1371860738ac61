package.path = "bench/lua/?.lua;" .. package.path
local c = require("common")
local items = {}
for i = 1, 100 do
  items[i] = string.format('{"app":"web-shop","name":"event_%d","platform":"web","environment":"production","release":"web@1.4.2","session_id":"b42effde-5cc0-40e0-9f61-8d5585b0764b","anonymous_id":"b7104227-4f9b-4828-8330-642389335dab","sdk_version":"1.3.0","properties":{"i":%d,"path":"/p/%d"}}', i % 12, i, i)
end
wrk.method = "POST"
wrk.path = "/ingest/batch"
wrk.headers = c.headers()
wrk.body = '{"events":[' .. table.concat(items, ",") .. ']}'
done = c.done(100)
