-- defaults.lua - the built-in defaults: no content layer, so the filter asks
-- the MTA for neither headers nor body, and still sees every message end.
dofile(os.getenv("MTLIB"))
run(function()
    local c = session("mx.sender.test", "192.0.2.40", "mx.sender.test")
    check("defaults: headers not asked for", mt.test_option(c, SMFIP_NOHDRS))
    check("defaults: body not asked for", mt.test_option(c, SMFIP_NOBODY))
    check("defaults: MAIL continues", reply(mt.mailfrom(c, "<a@sender.test>"), c) == "c")
    check("defaults: relay refused (no customers, no local domains)",
          reply(mt.rcptto(c, "<x@elsewhere.test>"), c) == "y")
    mt.disconnect(c)
    print("ok - defaults.lua ran to its end")
end)
