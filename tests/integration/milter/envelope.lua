-- envelope.lua - connect, HELO, MAIL, RCPT through policy-milter with the
-- customers and regex layers (milter.sh writes the configuration).
dofile(os.getenv("MTLIB"))
run(function()
    -- an ordinary client: a rejected recipient does not end the transaction
    local c, r = session("mx.sender.test", "192.0.2.10", "mx.sender.test")
    check("clean client: connect and HELO continue", r == "c")
    check("MAIL with ESMTP parameters continues",
          reply(mt.mailfrom(c, "<a@sender.test>", "SIZE=100", "BODY=8BITMIME"), c) == "c")
    check("badrcptto recipient gets a reply code", reply(mt.rcptto(c, "<blocked@example.test>"), c) == "y")
    check("relay to a foreign domain gets a reply code", reply(mt.rcptto(c, "<x@elsewhere.test>"), c) == "y")
    check("a good recipient after two rejected ones continues",
          reply(mt.rcptto(c, "<good@example.test>"), c) == "c")
    check("DATA continues", reply(mt.data(c), c) == "c")
    check("headers and body continue",
          content(c, {"Subject", "hello", "From", "<a@sender.test>"}, "hi\r\n") == "c")
    check("end of message accepts", reply(mt.eom(c), c) == "c")
    check("no edits for an untagged message", not mt.eom_check(c, MT_HDRADD))
    -- a second transaction on the same connection
    check("second MAIL continues", reply(mt.mailfrom(c, "<b@sender.test>"), c) == "c")
    check("second RCPT continues", reply(mt.rcptto(c, "<good@example.test>"), c) == "c")
    check("RSET (abort) is accepted", mt.abort(c) == nil)
    check("MAIL after RSET continues", reply(mt.mailfrom(c, "<c@sender.test>"), c) == "c")
    check("badmailfrom sender: recipient refused (delayed to RCPT)",
          reply(mt.mailfrom(c, "<spammer@evil.test>"), c) ~= "ERR" and
          reply(mt.rcptto(c, "<good@example.test>"), c) == "y")
    mt.disconnect(c)

    -- badhelo is enforced at RCPT (delay_reject), not at HELO
    c, r = session("mx.sender.test", "192.0.2.11", "bad.helo")
    check("badhelo: HELO itself continues", r == "c")
    check("badhelo: MAIL continues", reply(mt.mailfrom(c, "<a@sender.test>"), c) == "c")
    check("badhelo: RCPT gets a reply code", reply(mt.rcptto(c, "<good@example.test>"), c) == "y")
    mt.disconnect(c)

    -- AUTH through the {auth_authen} macro gives relay
    c, r = session("client.sender.test", "198.51.100.7", "laptop")
    mt.macro(c, SMFIC_MAIL, "{auth_authen}", "alice")
    check("authenticated MAIL continues", reply(mt.mailfrom(c, "<alice@example.test>"), c) == "c")
    check("authenticated client relays", reply(mt.rcptto(c, "<bob@elsewhere.test>"), c) == "c")
    mt.disconnect(c)

    -- an empty {auth_authen} is no authentication
    c, r = session("client.sender.test", "198.51.100.8", "laptop")
    mt.macro(c, SMFIC_MAIL, "{auth_authen}", "")
    check("empty auth macro: MAIL continues", reply(mt.mailfrom(c, "<x@sender.test>"), c) == "c")
    check("empty auth macro: no relay", reply(mt.rcptto(c, "<bob@elsewhere.test>"), c) == "y")
    mt.disconnect(c)

    -- IPv6 client, no name
    c, r = session("[2001:db8::25]", "2001:db8::25", "v6.sender.test")
    check("IPv6 client: connect and HELO continue", r == "c")
    check("IPv6 client: MAIL continues", reply(mt.mailfrom(c, "<>"), c) == "c")
    check("IPv6 client: local recipient continues", reply(mt.rcptto(c, "<good@example.test>"), c) == "c")
    check("IPv6 client: relay refused", reply(mt.rcptto(c, "<x@elsewhere.test>"), c) == "y")
    mt.disconnect(c)

    -- a trusted network relays
    c, r = session("localhost", "127.0.0.1", "localhost")
    check("trusted client: MAIL continues", reply(mt.mailfrom(c, "<app@example.test>"), c) == "c")
    check("trusted client relays", reply(mt.rcptto(c, "<x@elsewhere.test>"), c) == "c")
    mt.disconnect(c)

    -- a local submission (no address family): treated as 127.0.0.1
    c, r = session("localhost", "unspec", nil)
    check("local submission: connect continues", r == "c")
    check("local submission relays",
          reply(mt.mailfrom(c, "<root@example.test>"), c) == "c" and
          reply(mt.rcptto(c, "<x@elsewhere.test>"), c) == "c")
    mt.disconnect(c)

    -- per-client variables from tcp.smtp.cdb
    c, r = session("relay.partner.test", "192.0.2.99", "relay.partner.test")
    check("tcprules RELAYCLIENT: MAIL continues", reply(mt.mailfrom(c, "<p@partner.test>"), c) == "c")
    check("tcprules RELAYCLIENT relays", reply(mt.rcptto(c, "<x@elsewhere.test>"), c) == "c")
    mt.disconnect(c)
    c, r = session("denied.test", "192.0.2.66", nil)
    check("tcprules deny: refused at connect", r == "y")
    mt.disconnect(c)
    print("ok - envelope.lua ran to its end")
end)
