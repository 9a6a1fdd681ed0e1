-- The requests wrk sends, for every scenario, to imagehost and to the ceiling alike
-- (imagehost_bench/wrk.py runs it). wrk's scripting API: /usr/share/doc/wrk/SCRIPTING.
--
--   wrk ... -s load.lua URL -- get    STATUS                   GET URL (headers from -H)
--   wrk ... -s load.lua URL -- upload STATUS BODY_FILE TYPE    POST that body, made distinct
--   wrk ... -s load.lua URL -- delete STATUS PAIRS_FILE THREADS [cycle]
--
-- upload: BODY_FILE holds MARK once (scenarios.py puts it where the backend never reads:
-- inside the JPEG's entropy-coded data). Each request sends the body with MARK replaced by
-- a tag of the same length, 8 random bytes per thread and a counter, in hex: every body
-- differs from every other, of this run and any other, so the backend stores each as a
-- first upload and never takes the path of an identical one (a hard link to the earlier
-- file). It costs wrk one copy of the body per request, for imagehost and ceiling alike.
--
-- delete: PAIRS_FILE has one "name delete_token" per line; thread i of THREADS takes
-- lines i, i+THREADS, ... and sends DELETE /api/images/<name> with that token, each once.
-- A thread that runs out stops, after one repeated request, and says so in the result.
-- With "cycle" it starts again from its first line instead: for the ceiling, which
-- answers 204 to any name and is too fast for any pool of real images.
--
-- STATUS is the one status that counts as success; every other one is an error. "-"
-- leaves response() undefined so wrk never hands bodies to Lua (for large GET bodies,
-- where that copying would load wrk more than the server); errors are then wrk's own
-- count of statuses above 399.
--
-- done() prints one line: "BENCH-RESULT " and a JSON object (times in microseconds).

local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("id", #threads)
end

-- Per-thread counters, read by done() through thread:get().
ok = 0
unexpected = 0
exhausted = 0

local expected
local pairs_of_thread = {}
local next_pair = 1
local cycle = false
local MARK = "imagehost-bench-distinct"
local upload_head, upload_tail, upload_tag
local uploads_sent = 0

local function read_file(path)
    local file = assert(io.open(path, "rb"))
    local data = file:read("*a")
    file:close()
    return data
end

local function count(status)
    if status == expected then
        ok = ok + 1
    else
        unexpected = unexpected + 1
    end
    if exhausted == 1 then
        wrk.thread:stop()
    end
end

local function next_delete()
    local pair = pairs_of_thread[next_pair]
    if pair == nil and cycle then
        next_pair = 1
        pair = pairs_of_thread[1]
    end
    if pair == nil then
        exhausted = 1
        pair = pairs_of_thread[#pairs_of_thread]
    else
        next_pair = next_pair + 1
    end
    return wrk.format("DELETE", "/api/images/" .. pair[1], {["Authorization"] = "Bearer " .. pair[2]})
end

local function random_hex(bytes)
    local file = assert(io.open("/dev/urandom", "rb"))
    local data = file:read(bytes)
    file:close()
    return (data:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

local function next_upload()
    uploads_sent = uploads_sent + 1
    return upload_head .. upload_tag .. string.format("%08x", uploads_sent) .. upload_tail
end

function init(args)
    local mode = args[1]
    if args[2] ~= "-" then
        expected = tonumber(args[2])
        response = count
    end
    if mode == "upload" then
        wrk.headers["Content-Type"] = args[4]
        local whole = wrk.format("POST", nil, nil, read_file(args[3]))
        local at = string.find(whole, MARK, 1, true)
        assert(at, "no " .. MARK .. " in " .. args[3])
        upload_head = string.sub(whole, 1, at - 1)
        upload_tail = string.sub(whole, at + #MARK)
        upload_tag = random_hex(8)
        request = next_upload
    elseif mode == "delete" then
        local stride = tonumber(args[4])
        local line_number = 0
        for line in io.lines(args[3]) do
            if line_number % stride == id - 1 then
                local name, token = line:match("^(%S+) (%S+)$")
                table.insert(pairs_of_thread, {name, token})
            end
            line_number = line_number + 1
        end
        assert(#pairs_of_thread > 0, "no pairs for thread " .. id)
        cycle = args[5] == "cycle"
        request = next_delete
    elseif mode ~= "get" then
        error("unknown mode " .. tostring(mode))
    end
end

function done(summary, latency, requests)
    local ok_total, unexpected_total, exhausted_total = 0, 0, 0
    for _, thread in ipairs(threads) do
        ok_total = ok_total + thread:get("ok")
        unexpected_total = unexpected_total + thread:get("unexpected")
        exhausted_total = exhausted_total + thread:get("exhausted")
    end
    local e = summary.errors
    io.write(string.format(
        'BENCH-RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p99_us": %d, '
        .. '"connect": %d, "read": %d, "write": %d, "timeout": %d, "status_over_399": %d, '
        .. '"ok": %d, "unexpected": %d, "exhausted_threads": %d}\n',
        summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99),
        e.connect, e.read, e.write, e.timeout, e.status,
        ok_total, unexpected_total, exhausted_total))
end
