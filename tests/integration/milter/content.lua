-- content.lua - headers and body through policy-milter (configuration A:
-- a header block rule, no body layer).
dofile(os.getenv("MTLIB"))

local function message(c, from)
    return reply(mt.mailfrom(c, from or "<a@sender.test>"), c) == "c" and
           reply(mt.rcptto(c, "<good@example.test>"), c) == "c" and
           reply(mt.data(c), c) == "c"
end

run(function()
    local c = session("mx.sender.test", "192.0.2.20", "mx.sender.test")
    check("headers are asked for (a header rule exists)", not mt.test_option(c, SMFIP_NOHDRS))
    check("the body is not asked for (no body layer)", mt.test_option(c, SMFIP_NOBODY))
    check("end-of-headers is not asked for", mt.test_option(c, SMFIP_NOEOH))
    check("may add headers", mt.test_action(c, SMFIF_ADDHDRS))
    check("may change headers", mt.test_action(c, SMFIF_CHGHDRS))

    check("transaction for the header block", message(c))
    check("header block rule: reply code at the header",
          content(c, {"From", "<a@sender.test>", "Subject", "make money fast"}, nil) == "y")
    mt.abort(c)

    -- a folded header is matched unfolded
    check("transaction for the folded header", message(c))
    check("folded Subject still blocked",
          content(c, {"Subject", "make\n\tmoney fast"}, nil) == "y")
    mt.abort(c)

    -- malformed input: NUL bytes, long values, an empty name (miltertest
    -- itself crashes on values near 10,000 bytes: rawmilter.py sends those)
    check("transaction for malformed headers", message(c))
    check("NUL byte in a header value continues",
          content(c, {"X-Nul", "a\0b", "Subject", "hello"}, nil) == "c")
    check("1,000-byte header value continues",
          content(c, {"X-Long", string.rep("x", 1000)}, nil) == "c")
    check("1,000-byte value matching a rule is still blocked",
          content(c, {"Subject", "make money fast " .. string.rep("y", 1000)}, nil) == "y")
    mt.abort(c)
    -- (an empty header name makes libmilter itself drop the connection:
    -- rawmilter.py checks that the daemon keeps serving)
    check("transaction after odd headers", message(c) and
          content(c, {"X-Empty", ""}, nil) == "c")
    check("end of message accepts after odd headers", reply(mt.eom(c), c) == "c")
    mt.disconnect(c)

    -- abrupt disconnect in the middle of a transaction, then a new session
    c = session("mx.sender.test", "192.0.2.21", "mx.sender.test")
    message(c)
    mt.disconnect(c, false)
    c = session("mx.sender.test", "192.0.2.22", "mx.sender.test")
    check("a session after an abrupt disconnect works", message(c) and
          content(c, {"Subject", "hi"}, nil) == "c" and reply(mt.eom(c), c) == "c")
    mt.disconnect(c)
    print("ok - content.lua ran to its end")
end)
