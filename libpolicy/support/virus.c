/*
 * virus.c - the scan result both virus scanners fill in: a signature name
 * from a scanner is made safe for a log line, an SMTP reply or a header
 * (printable ASCII, no blanks, bounded); encrypted-content and scan-limit
 * alerts are told apart from infections, so a layer can give them their
 * own verdicts.
 */
#include <string.h>

#include "virus.h"

#define ENCRYPTED_PREFIX "Heuristics.Encrypted."
#define LIMITS_PREFIX    "Heuristics.Limits.Exceeded"

void virus_set(struct virus_result *r, enum virus_status status, const char *why)
{
    r->status = status;
    r->name[0] = '\0';
    r->why = why ? why : "";
}

void virus_found(struct virus_result *r, const char *name, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n < VIRUS_NAME_MAX - 1; i++) {
        unsigned char c = (unsigned char)name[i];
        r->name[n++] = c > 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (n == 0)
        r->name[n++] = '?'; /* a detection is never anonymous */
    r->name[n] = '\0';
    r->why = "";
    r->status = VIRUS_INFECTED;
    if (strncmp(r->name, ENCRYPTED_PREFIX, sizeof(ENCRYPTED_PREFIX) - 1) == 0)
        r->status = VIRUS_ENCRYPTED;
    if (strncmp(r->name, LIMITS_PREFIX, sizeof(LIMITS_PREFIX) - 1) == 0) {
        r->status = VIRUS_TOO_BIG;
        r->why = "over a scan limit";
    }
}

const char *virus_status_name(enum virus_status s)
{
    switch (s) {
    case VIRUS_CLEAN:
        return "clean";
    case VIRUS_INFECTED:
        return "infected";
    case VIRUS_ENCRYPTED:
        return "encrypted";
    case VIRUS_TOO_BIG:
        return "too-big";
    case VIRUS_ERROR:
        return "error";
    default:
        return "pending";
    }
}
