-- rcptload.lua - sessions of RCPTs to known addresses while recipients.sh
-- rebuilds the map and reloads the milter: prints how many RCPTs did not
-- continue (must be 0) and how many were sent.
dofile(os.getenv("MTLIB"))
run(function()
    local bad, sent = 0, 0
    local deadline = os.time() + tonumber(os.getenv("SECONDS_TO_RUN") or "3")
    while os.time() < deadline do
        local c = session("mx.sender.test", "192.0.2.20", "mx.sender.test")
        reply(mt.mailfrom(c, "<a@sender.test>"), c)
        for i = 1, 20 do
            sent = sent + 1
            if reply(mt.rcptto(c, "<joe@example.test>"), c) ~= "c" then bad = bad + 1 end
        end
        mt.disconnect(c)
    end
    print("refused " .. bad .. " of " .. sent)
end)
