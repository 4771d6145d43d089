-- debian.lua - the installed policy-milter with the packaged default
-- /etc/libpolicy/policy.conf (debian/policy.conf): relay control refuses,
-- [attachments] asks for the message and only logs (action = warn).
dofile(os.getenv("MTLIB"))

local body = "--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" ..
             "--b1\r\nContent-Type: application/octet-stream\r\n" ..
             "Content-Disposition: attachment; filename=\"invoice.exe\"\r\n" ..
             "Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAA\r\n" ..
             "--b1--\r\n"

run(function()
    local c = session("mx.sender.test", "192.0.2.30", "mx.sender.test")
    check("packaged config: the message is asked for ([attachments] is on)",
          not mt.test_option(c, SMFIP_NOHDRS) and not mt.test_option(c, SMFIP_NOBODY))
    check("packaged config: MAIL from a stranger continues",
          reply(mt.mailfrom(c, "<a@sender.test>"), c) == "c")
    check("packaged config: a stranger may not relay",
          reply(mt.rcptto(c, "<x@elsewhere.test>"), c) == "y")
    check("packaged config: postmaster@localhost (a default local domain) is taken",
          reply(mt.rcptto(c, "<postmaster@localhost>"), c) == "c")
    check("packaged config: DATA continues", reply(mt.data(c), c) == "c")
    check("packaged config: headers of a message with a program attached continue",
          content(c, {"From", "<a@sender.test>", "Subject", "invoice",
                      "MIME-Version", "1.0",
                      "Content-Type", "multipart/mixed; boundary=\"b1\""}, body) == "c")
    check("packaged config: a program attached is only logged (action = warn)",
          reply(mt.eom(c), c) == "c")
    mt.disconnect(c)

    c = session("localhost", "127.0.0.1", "localhost")
    check("packaged config: MAIL from loopback continues",
          reply(mt.mailfrom(c, "<root@localhost>"), c) == "c")
    check("packaged config: loopback (trusted_networks) may relay",
          reply(mt.rcptto(c, "<x@elsewhere.test>"), c) == "c")
    mt.disconnect(c)
    print("ok - debian.lua ran to its end")
end)
