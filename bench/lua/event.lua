package.path = "bench/lua/?.lua;" .. package.path
local c = require("common")
wrk.method = "POST"
wrk.headers = c.headers()
wrk.body = '{"app":"web-shop","name":"page_view","platform":"web","environment":"production","release":"web@1.4.2","session_id":"b42effde-5cc0-40e0-9f61-8d5585b0764b","anonymous_id":"b7104227-4f9b-4828-8330-642389335dab","sdk_version":"1.3.0","properties":{"path":"/pricing","referrer":"https://www.example.org/"}}'
done = c.done(1)
