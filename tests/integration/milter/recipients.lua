-- recipients.lua - layer 3 through policy-milter (recipients.sh writes the
-- map and the configuration): unknown local recipients refused at RCPT,
-- known ones, aliases, lists, catch-alls and extensions accepted, and the
-- per-session limits exact across RSET.
dofile(os.getenv("MTLIB"))
run(function()
    local c, r = session("mx.sender.test", "192.0.2.10", "mx.sender.test")
    check("recipients: MAIL continues", reply(mt.mailfrom(c, "<a@sender.test>"), c) == "c")
    check("recipients: a known address continues", reply(mt.rcptto(c, "<joe@example.test>"), c) == "c")
    check("recipients: an alias continues", reply(mt.rcptto(c, "<sales@example.test>"), c) == "c")
    check("recipients: a list continues", reply(mt.rcptto(c, "<list@example.test>"), c) == "c")
    check("recipients: an extension continues", reply(mt.rcptto(c, "<joe-news@example.test>"), c) == "c")
    check("recipients: a catch-all domain continues", reply(mt.rcptto(c, "<x@catchall.test>"), c) == "c")
    check("recipients: postmaster continues", reply(mt.rcptto(c, "<postmaster@example.test>"), c) == "c")
    check("recipients: an unknown local recipient gets a reply code",
          reply(mt.rcptto(c, "<nobody@example.test>"), c) == "y")
    mt.disconnect(c)

    -- wrongrcpt_limit = 3: three unknown recipients, across RSET, then every RCPT is refused
    c, r = session("mx.sender.test", "192.0.2.11", "mx.sender.test")
    reply(mt.mailfrom(c, "<a@sender.test>"), c)
    check("bomb: unknown 1 refused", reply(mt.rcptto(c, "<u1@example.test>"), c) == "y")
    check("bomb: unknown 2 refused", reply(mt.rcptto(c, "<u2@example.test>"), c) == "y")
    check("bomb: a known one still continues", reply(mt.rcptto(c, "<joe@example.test>"), c) == "c")
    check("bomb: RSET", mt.abort(c) == nil)
    reply(mt.mailfrom(c, "<b@sender.test>"), c)
    check("bomb: unknown 3 (after RSET) refused", reply(mt.rcptto(c, "<u3@example.test>"), c) == "y")
    check("bomb: after the third, a known recipient is refused too",
          reply(mt.rcptto(c, "<joe@example.test>"), c) == "y")
    mt.disconnect(c)

    -- a new connection starts from zero
    c, r = session("mx.sender.test", "192.0.2.11", "mx.sender.test")
    reply(mt.mailfrom(c, "<a@sender.test>"), c)
    check("bomb: a new connection starts from zero", reply(mt.rcptto(c, "<joe@example.test>"), c) == "c")
    mt.disconnect(c)

    -- rcpt_limit = 10: the eleventh RCPT of the session is deferred, RSET or not
    c, r = session("mx.sender.test", "192.0.2.12", "mx.sender.test")
    reply(mt.mailfrom(c, "<a@sender.test>"), c)
    local okn = 0
    for i = 1, 6 do if reply(mt.rcptto(c, "<joe@example.test>"), c) == "c" then okn = okn + 1 end end
    mt.abort(c)
    reply(mt.mailfrom(c, "<b@sender.test>"), c)
    for i = 1, 4 do if reply(mt.rcptto(c, "<joe@example.test>"), c) == "c" then okn = okn + 1 end end
    check("limit: ten recipients accepted across RSET", okn == 10)
    check("limit: the eleventh gets a reply code", reply(mt.rcptto(c, "<joe@example.test>"), c) == "y")
    mt.disconnect(c)
end)
