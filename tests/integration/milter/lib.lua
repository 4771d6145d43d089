-- lib.lua - shared by the miltertest scripts: TAP-style checks and a
-- connection helper.  The shell side (milter.sh) counts the lines.
SOCK = os.getenv("SOCK")

function check(name, cond)
    if cond then print("ok - " .. name) else print("not ok - " .. name) end
end

-- reply - send one event and return the milter's reply as a letter:
-- c continue, y reply code (reject/tempfail with text), a accept, t tempfail,
-- r reject, d discard; "ERR: ..." when miltertest itself failed.
local letters = {}
letters[SMFIR_CONTINUE] = "c"
letters[SMFIR_REPLYCODE] = "y"
letters[SMFIR_ACCEPT] = "a"
letters[SMFIR_TEMPFAIL] = "t"
letters[SMFIR_REJECT] = "r"
letters[SMFIR_DISCARD] = "d"
function reply(err, conn)
    if err ~= nil then return "ERR: " .. tostring(err) end
    return letters[mt.getreply(conn)] or tostring(mt.getreply(conn))
end

function session(host, ip, helo)
    local conn = mt.connect(SOCK, 40, 0.25)
    assert(conn, "cannot connect to " .. tostring(SOCK))
    local r = reply(mt.conninfo(conn, host, ip), conn)
    if helo then r = reply(mt.helo(conn, helo), conn) end
    return conn, r
end

-- body - headers, end of headers and body, as far as the filter asked for
-- them (it skips what no layer needs); returns the last reply letter.
function content(conn, headers, body)
    local r = "c"
    if not mt.test_option(conn, SMFIP_NOHDRS) then
        for i = 1, #headers, 2 do
            r = reply(mt.header(conn, headers[i], headers[i + 1]), conn)
            if r ~= "c" then return r end
        end
    end
    if not mt.test_option(conn, SMFIP_NOEOH) then r = reply(mt.eoh(conn), conn) end
    if body and not mt.test_option(conn, SMFIP_NOBODY) then
        r = reply(mt.bodystring(conn, body), conn)
    end
    return r
end

function run(f)
    local ok, err = pcall(f)
    if not ok then print("not ok - lua error: " .. tostring(err)) end
end
