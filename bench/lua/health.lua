package.path = "bench/lua/?.lua;" .. package.path
local c = require("common")
wrk.method = "GET"
done = c.done(1)
