-- unknown.lua - connects that carry no address (the milter protocol's
-- unknown family, miltertest's "unspec"): an SMTP client whose address the
-- MTA does not know is not a customer unless TRUST=yes (the milter then runs
-- with [customers] trust_unknown_address = yes); Sendmail's own submission
-- on standard input (no address, host "localhost") is a local one.
dofile(os.getenv("MTLIB"))
local trust = os.getenv("TRUST") == "yes"
local tag = trust and " (trust_unknown_address = yes)" or ""
run(function()
    local c, r = session("client.test", "unspec", "client.test")
    check("no address" .. tag .. ": connect and HELO continue", r == "c")
    check("no address" .. tag .. ": MAIL continues", reply(mt.mailfrom(c, "<a@client.test>"), c) == "c")
    local relay = reply(mt.rcptto(c, "<x@elsewhere.test>"), c)
    if trust then
        check("no address, trusted by configuration: relay allowed", relay == "c")
    else
        check("no address: not a customer, relay refused with a reply code", relay == "y")
    end
    check("no address" .. tag .. ": a local recipient continues",
          reply(mt.rcptto(c, "<good@sink.test>"), c) == "c")
    mt.disconnect(c)

    c, r = session("localhost", "unspec", "localhost")
    check("local submission (no address, localhost)" .. tag .. ": connect continues", r == "c")
    mt.mailfrom(c, "<root@sink.test>")
    check("local submission" .. tag .. ": a customer, relay allowed",
          reply(mt.rcptto(c, "<x@elsewhere.test>"), c) == "c")
    mt.disconnect(c)
    print("ok - unknown.lua ran to its end" .. tag)
end)
