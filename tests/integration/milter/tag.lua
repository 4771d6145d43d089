-- tag.lua - configuration B: the regex layer tags instead of rejecting; the
-- tag must arrive as a header added at end of message.
dofile(os.getenv("MTLIB"))
run(function()
    local c = session("mx.sender.test", "192.0.2.30", "mx.sender.test")
    check("tag: transaction", reply(mt.mailfrom(c, "<a@sender.test>"), c) == "c" and
          reply(mt.rcptto(c, "<good@example.test>"), c) == "c" and reply(mt.data(c), c) == "c")
    check("tag: matching header continues", content(c, {"Subject", "make money fast"}, nil) == "c")
    check("tag: end of message accepts", reply(mt.eom(c), c) == "c")
    check("tag: X-Policy-Tag added", mt.eom_check(c, MT_HDRADD, "X-Policy-Tag"))
    local v = mt.getheader(c, "X-Policy-Tag", 0)
    check("tag: the header names the layer", v ~= nil and string.find(v, "regex", 1, true) ~= nil)
    -- the next message on the connection is not tagged
    check("tag: second transaction", reply(mt.mailfrom(c, "<a@sender.test>"), c) == "c" and
          reply(mt.rcptto(c, "<good@example.test>"), c) == "c" and reply(mt.data(c), c) == "c")
    check("tag: clean header continues", content(c, {"Subject", "hello"}, nil) == "c")
    check("tag: clean message accepted", reply(mt.eom(c), c) == "c")
    check("tag: clean message not tagged", not mt.eom_check(c, MT_HDRADD, "X-Policy-Tag"))
    mt.disconnect(c)
    print("ok - tag.lua ran to its end")
end)
