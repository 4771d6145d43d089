/*
 * edits.c - the header edits decided for a message: those of the
 * connection (tags decided before MAIL, given to every message) and those
 * of the transaction.  Bounded (POLICY_MAX_EDITS each, a repeat not added
 * twice) and safe: a name is a header name, a value one folded header.
 */
#include <stdlib.h>
#include <string.h>

#include "core.h"

/* edit_push - add an edit to a list: 0 added (or the same edit is there
 * already), 1 dropped (the list is full: POLICY_MAX_EDITS), -1 no memory. */
static int edit_push(struct arena *a, policy_edit **v, size_t *n, size_t *cap,
                     policy_edit_kind kind, const char *name, unsigned index, const char *value)
{
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].kind == kind && (*v)[i].index == index && !strcmp((*v)[i].name, name) &&
            !strcmp((*v)[i].value, value))
            return 0;
    if (*n >= POLICY_MAX_EDITS)
        return 1;
    if (array_grow(v, cap, *n + 1, sizeof(**v), 8) != 0)
        return -1;
    char *nm = arena_strndup(a, name, 128), *val = arena_strndup(a, value, 8192);
    if (!nm || !val)
        return -1;
    /* no header injection: a value is one folded header, CR LF only before WSP */
    for (char *p = nm; *p; p++)
        if (*p <= ' ' || *p == ':' || *p > 0x7e)
            *p = '-';
    for (char *p = val; *p; p++)
        if ((*p == '\r' || *p == '\n') && p[1] != ' ' && p[1] != '\t' && p[1] != '\n')
            *p = ' ';
    (*v)[*n].kind = kind;
    (*v)[*n].name = nm;
    (*v)[*n].value = val;
    (*v)[*n].index = index;
    (*n)++;
    return 0;
}

int edit_add_at(policy_session *s, int txn, policy_edit_kind kind, const char *name,
                unsigned index, const char *value)
{
    if (kind == POLICY_EDIT_DELETE_HEADER)
        value = ""; /* nothing to write: the header goes */
    int r = txn ? edit_push(&s->txn_arena, &s->edits, &s->nedits, &s->edits_cap, kind, name,
                            index, value)
                : edit_push(&s->conn, &s->conn_edits, &s->nconn_edits, &s->conn_edits_cap, kind,
                            name, index, value);
    if (r > 0)
        plog(s, POLICY_LOG_WARNING, "header edit %s dropped: %d edits already for this %s", name,
             POLICY_MAX_EDITS, txn ? "transaction" : "connection");
    return r < 0 ? -1 : 0;
}

int edit_add(policy_session *s, int txn, policy_edit_kind kind, const char *name,
             const char *value)
{
    return edit_add_at(s, txn, kind, name, 0, value);
}

int session_add_edit(policy_session *s, policy_edit_kind kind, const char *name, const char *value)
{
    /* a transaction is open: from MAIL (even inside its hooks) to reset */
    return edit_add(s, s->txn.sender != NULL, kind, name, value);
}

int session_add_edit_at(policy_session *s, policy_edit_kind kind, const char *name,
                        unsigned index, const char *value)
{
    return edit_add_at(s, s->txn.sender != NULL, kind, name, index, value);
}

int edits_begin_message(policy_session *s)
{
    for (size_t i = 0; i < s->nconn_edits; i++)
        if (edit_add_at(s, 1, s->conn_edits[i].kind, s->conn_edits[i].name,
                        s->conn_edits[i].index, s->conn_edits[i].value) != 0)
            return -1;
    return 0;
}

void edits_free(policy_session *s)
{
    free(s->edits);
    free(s->conn_edits);
}

size_t policy_edits(const policy_session *s, const policy_edit **edits)
{
    if (!s || !edits)
        return 0;
    *edits = s->edits;
    return s->nedits;
}
