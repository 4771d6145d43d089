/*
 * stats_html.c - `policyctl stats --html`: one self-contained page (inline
 * CSS and SVG, no script, nothing fetched: its Content-Security-Policy
 * forbids it) with the numbers of the text summary drawn: decisions per
 * layer per hour, each layer's share of the refusals, and the duration
 * histograms, then the summary's tables.  Every bar carries its numbers
 * (data-* attributes and a tooltip), so a test can read them back.
 * Everything that came from a log is escaped.
 */
#include <stdlib.h>
#include <string.h>

#include "stats.h"

#define W      960.0 /* chart width */
#define H      320.0 /* chart height */
#define LEFT   60.0
#define RIGHT  20.0
#define TOP    20.0
#define BOTTOM 50.0

static const char *const palette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                      "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
                                      "#86bcb6", "#d37295"};
#define NPALETTE (sizeof(palette) / sizeof(*palette))

/* esc - s with HTML's five special characters escaped. */
static void esc(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&#39;", out);
            break;
        default:
            putc((unsigned char)*s < ' ' && *s != '\n' ? ' ' : *s, out);
        }
    }
}

/* nice - a round number at least v (1, 2, 5 times a power of ten). */
static double nice(double v)
{
    double p = 1;
    if (v <= 1)
        return 1;
    while (p * 10 <= v)
        p *= 10;
    return v <= p ? p : v <= 2 * p ? 2 * p : v <= 5 * p ? 5 * p : 10 * p;
}

/* axis - horizontal grid lines and their numbers, 0 to max. */
static void axis(FILE *out, double max)
{
    for (int i = 0; i <= 4; i++) {
        double v = max * i / 4, y = TOP + (H - TOP - BOTTOM) * (1 - (double)i / 4);
        fprintf(out,
                "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.2f\" y2=\"%.2f\" class=\"grid\"/>"
                "<text x=\"%.1f\" y=\"%.2f\" class=\"tick\" text-anchor=\"end\">%g</text>\n",
                LEFT, W - RIGHT, y, y, LEFT - 6, y + 4, v);
    }
}

static void when(char *buf, size_t cap, time_t t, const char *fmt)
{
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, cap, fmt, &tm);
}

static unsigned long long refusals_of(const struct stats *st, const char *layer)
{
    static const char *const r[] = {"reject", "tempfail", "disconnect"};
    unsigned long long n = 0;
    for (int i = 0; i < 3; i++) {
        char key[256];
        snprintf(key, sizeof(key), "%s\t%s", layer, r[i]);
        n += tally_get(&st->layer_action, key);
    }
    return n;
}

/* over_time - stacked bars: decisions of each layer, hour by hour. */
static void over_time(FILE *out, const struct stats *st, const char **layers, size_t nl)
{
    size_t nh;
    time_t *hours = stats_hours(st, &nh);
    char key[512], label[64];
    fprintf(out, "<section id=\"over-time\"><h2>Decisions per layer, per hour</h2>\n");
    if (!nh) {
        fprintf(out, "<p class=\"none\">No decision line with a time.</p></section>\n");
        free(hours);
        return;
    }
    double max = 0;
    for (size_t i = 0; i < nh; i++) {
        double sum = 0;
        for (size_t j = 0; j < nl; j++) {
            if (!strcmp(layers[j], "-"))
                continue;
            stats_hour_key(key, sizeof(key), hours[i], layers[j]);
            sum += (double)tally_get(&st->hour, key);
        }
        max = sum > max ? sum : max;
    }
    max = nice(max);
    double ph = H - TOP - BOTTOM, slot = (W - LEFT - RIGHT) / (double)nh, bw = slot * 0.8;
    fprintf(out, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
                 "role=\"img\" aria-label=\"decisions per layer per hour\">\n",
            W, H, W, H);
    axis(out, max);
    size_t every = nh / 12 + 1;
    for (size_t i = 0; i < nh; i++) {
        double x = LEFT + slot * (double)i + (slot - bw) / 2, y = TOP + ph;
        when(label, sizeof(label), hours[i], "%Y-%m-%d %H:00");
        for (size_t j = 0; j < nl; j++) {
            if (!strcmp(layers[j], "-"))
                continue;
            stats_hour_key(key, sizeof(key), hours[i], layers[j]);
            unsigned long long v = tally_get(&st->hour, key);
            if (!v)
                continue;
            double h = (double)v * ph / max;
            y -= h;
            fprintf(out, "<rect class=\"bar\" data-hour=\"%s\" data-layer=\"", label);
            esc(out, layers[j]);
            fprintf(out, "\" data-count=\"%llu\" x=\"%.3f\" y=\"%.3f\" width=\"%.3f\" "
                         "height=\"%.3f\" fill=\"%s\"><title>%s ",
                    v, x, y, bw, h, palette[j % NPALETTE], label);
            esc(out, layers[j]);
            fprintf(out, ": %llu</title></rect>\n", v);
        }
        if (i % every == 0) {
            when(label, sizeof(label), hours[i], "%H:00");
            fprintf(out, "<text x=\"%.2f\" y=\"%.1f\" class=\"tick\" text-anchor=\"middle\">%s</text>\n",
                    x + bw / 2, TOP + ph + 16, label);
        }
    }
    when(label, sizeof(label), hours[0], "%Y-%m-%d");
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" class=\"tick\">%s</text>\n", LEFT, H - 12, label);
    fprintf(out, "</svg>\n<ul class=\"legend\">");
    for (size_t j = 0; j < nl; j++) {
        if (!strcmp(layers[j], "-"))
            continue;
        fprintf(out, "<li><span style=\"background:%s\"></span>", palette[j % NPALETTE]);
        esc(out, layers[j]);
        fprintf(out, "</li>");
    }
    fprintf(out, "</ul></section>\n");
    free(hours);
}

/* shares - each layer's refusals, as bars of the largest, with percentages. */
static void shares(FILE *out, const struct stats *st, const char **layers, size_t nl)
{
    unsigned long long total = 0, max = 0;
    size_t rows = 0;
    for (size_t j = 0; j < nl; j++) {
        unsigned long long v = refusals_of(st, layers[j]);
        total += v;
        max = v > max ? v : max;
        rows += v > 0;
    }
    fprintf(out, "<section id=\"refusal-share\"><h2>Share of each layer in refusals</h2>\n");
    if (!total) {
        fprintf(out, "<p class=\"none\">No refusal.</p></section>\n");
        return;
    }
    double rowh = 28, w = W - 160 - 160, h = rowh * (double)rows + 10;
    fprintf(out, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
                 "role=\"img\" aria-label=\"share of each layer in refusals\">\n",
            W, h, W, h);
    size_t r = 0;
    for (size_t j = 0; j < nl; j++) {
        unsigned long long v = refusals_of(st, layers[j]);
        if (!v)
            continue;
        double y = 5 + rowh * (double)r++, bw = (double)v * w / (double)max;
        fprintf(out, "<text x=\"150\" y=\"%.1f\" class=\"name\" text-anchor=\"end\">", y + 17);
        esc(out, layers[j]);
        fprintf(out, "</text><rect class=\"share\" data-layer=\"");
        esc(out, layers[j]);
        fprintf(out, "\" data-count=\"%llu\" x=\"160\" y=\"%.1f\" width=\"%.3f\" height=\"%.1f\" "
                     "fill=\"%s\"><title>",
                v, y, bw, rowh - 8, palette[j % NPALETTE]);
        esc(out, layers[j]);
        fprintf(out, ": %llu refusals</title></rect><text x=\"%.1f\" y=\"%.1f\" class=\"value\">"
                     "%llu (%.1f%%)</text>\n",
                v, 166 + bw, y + 17, v, 100.0 * (double)v / (double)total);
    }
    fprintf(out, "</svg></section>\n");
}

/* durations - one column chart per histogram. */
static void durations(FILE *out, const struct stats *st)
{
    fprintf(out, "<section id=\"durations\"><h2>%s</h2>\n",
            st->from_store ? "Check durations (ms)" : "Stage durations (ms, duration= of the "
                                                      "decision lines)");
    if (!st->nhistos)
        fprintf(out, "<p class=\"none\">No duration.</p>\n");
    fprintf(out, "<div class=\"histos\">\n");
    for (size_t i = 0; i < st->nhistos; i++) {
        const struct histo *hg = &st->histos[i];
        unsigned long long max = 0;
        for (size_t b = 0; b < STATS_BUCKETS; b++)
            max = hg->bucket[b] > max ? hg->bucket[b] : max;
        double cw = 300, ch = 160, pb = 30, slot = (cw - 20) / STATS_BUCKETS, ph = ch - pb - 20;
        double top = nice((double)max);
        fprintf(out, "<figure><figcaption>");
        esc(out, hg->name);
        fprintf(out, " (%llu)</figcaption><svg class=\"histo\" data-histo=\"", hg->n);
        esc(out, hg->name);
        fprintf(out, "\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\">\n", cw, ch, cw,
                ch);
        fprintf(out, "<text x=\"4\" y=\"14\" class=\"tick\">%g</text>\n", top);
        for (size_t b = 0; b < STATS_BUCKETS; b++) {
            char l[16];
            stats_bucket_label(l, sizeof(l), b);
            double h = (double)hg->bucket[b] * ph / top, x = 10 + slot * (double)b;
            fprintf(out, "<rect class=\"hbar\" data-histo=\"");
            esc(out, hg->name);
            fprintf(out, "\" data-le=\"%s\" data-count=\"%llu\" x=\"%.3f\" y=\"%.3f\" "
                         "width=\"%.3f\" height=\"%.3f\"><title>&lt;= %s ms: %llu</title></rect>\n",
                    l, hg->bucket[b], x, 20 + ph - h, slot * 0.85, h, l, hg->bucket[b]);
            if (b % 4 == 0 || b == STATS_BUCKETS - 1)
                fprintf(out, "<text x=\"%.2f\" y=\"%.1f\" class=\"tick\" "
                             "text-anchor=\"middle\">%s</text>\n",
                        x + slot * 0.42, ch - 12, l);
        }
        fprintf(out, "</svg></figure>\n");
    }
    fprintf(out, "</div></section>\n");
}

/* table_text - the text summary itself, preformatted, below the charts. */
static int table_text(FILE *out, const struct stats *st, size_t top)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem)
        return -1;
    stats_text(st, mem, top);
    if (fclose(mem) != 0)
        return -1;
    fprintf(out, "<section id=\"summary\"><h2>The text summary</h2><pre>");
    esc(out, buf);
    fprintf(out, "</pre></section>\n");
    free(buf);
    return 0;
}

int stats_html(const struct stats *st, FILE *out, size_t top)
{
    size_t nl, na;
    const char **layers = stats_layers(st, &nl);
    const char **acts = stats_actions(st, &na);
    unsigned long long refused = 0;
    char a[64] = "", b[64] = "";
    for (size_t i = 0; i < na; i++)
        if (stats_refusal(acts[i]))
            refused += tally_get(&st->action, acts[i]);
    if (st->first) {
        when(a, sizeof(a), st->first, "%Y-%m-%d %H:%M");
        when(b, sizeof(b), st->last, "%Y-%m-%d %H:%M %Z");
    }
    fprintf(out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'\">\n"
            "<title>libpolicy decisions</title>\n<style>\n"
            "body{font:14px/1.4 sans-serif;margin:24px;color:#222;background:#fff}\n"
            "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}\n"
            ".cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #ccd;"
            "border-radius:6px;padding:10px 16px;min-width:130px}\n"
            ".card b{display:block;font-size:24px}.grid{stroke:#e3e3e8}\n"
            ".tick{font-size:11px;fill:#555}.name,.value{font-size:13px;fill:#222}\n"
            ".hbar{fill:#4e79a7}.legend{list-style:none;padding:0;display:flex;gap:14px;"
            "flex-wrap:wrap}\n.legend span{display:inline-block;width:12px;height:12px;"
            "margin-right:5px;vertical-align:-1px}\n"
            ".histos{display:flex;flex-wrap:wrap;gap:10px}figure{margin:0}"
            "figcaption{font-size:13px}\npre{font-size:12px;background:#f6f6f8;padding:10px;"
            "overflow-x:auto}.none{color:#777}\n"
            "</style></head><body>\n<h1>libpolicy decisions</h1>\n<p class=\"period\">%s",
            st->from_store ? "The counters of the store. " : "");
    if (*a) {
        fprintf(out, "From %s to ", a);
        esc(out, b);
        putc('.', out);
    }
    fprintf(out, "</p>\n");
    fprintf(out, "<section class=\"cards\" id=\"totals\">"
                 "<div class=\"card\"><b data-total=\"decisions\">%llu</b>decisions</div>"
                 "<div class=\"card\"><b data-total=\"accepted\">%llu</b>messages accepted</div>"
                 "<div class=\"card\"><b data-total=\"refusals\">%llu</b>refusals</div>"
                 "</section>\n",
            st->decisions, st->accepted, refused);
    over_time(out, st, layers, nl);
    shares(out, st, layers, nl);
    durations(out, st);
    int r = table_text(out, st, top);
    fprintf(out, "</body></html>\n");
    for (size_t i = 0; i < nl; i++)
        free((char *)layers[i]);
    free(layers);
    free(acts);
    return r || ferror(out) ? -1 : 0;
}
