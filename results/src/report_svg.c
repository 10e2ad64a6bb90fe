/*
 * report_svg.c - a self-contained SVG chart: one panel per (scenario, parameters, op) group,
 * a horizontal bar per backend (median ops/s), fastest on top, each bar labelled with its
 * value. When a panel spans more than 100x, its axis is logarithmic: a linear axis would leave
 * the slow backends as invisible slivers, which hides exactly the comparison people look for.
 *
 * Nothing external is referenced (no fonts, images or styles), so the file renders the same
 * in a browser, in rsvg-convert and in ImageMagick.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum {
    MARGIN = 16,
    BAR_W = 500,
    VALUE_W = 300, /* room right of the longest bar for its value and flags */
    ROW_H = 22,
    BAR_H = 14,
    CHAR_W = 7,       /* average advance of a 12 px sans-serif character, for layout */
    LABEL_CHARS = 44, /* longer labels are cut with an ellipsis */
    HEAD_H = 92,      /* title, two lines of run facts and the legend */
};

/* Where things go: the label column is as wide as the longest label needs. */
typedef struct layout {
    int label_right; /* labels are right-aligned here */
    int bar_x;
    int width;
} layout;

static const char *const COLOR_BAR = "#4e79a7";
static const char *const COLOR_LOCAL = "#8c8c8c";
static const char *const COLOR_TEXT = "#222222";
static const char *const COLOR_MUTED = "#666666";
static const char *const COLOR_GRID = "#dddddd";
static const char *const COLOR_FAIL = "#c0392b";

static size_t code_points(const char *s) {
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* Writes text escaped for XML, cut to `max` code points (0: no limit) ending in an ellipsis. */
void rp__xml_text(FILE *f, const char *text, size_t max) {
    static const char marks[] = "&<>\"'";
    static const char *const entities[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
    if (!text)
        return;
    /* Control characters first become visible escapes (rp_fputs_safe()): what remains is
     * UTF-8 that XML 1.0 allows, once the five markup characters are escaped. */
    char *safe = rp__safe_dup(text);
    const char *s = safe ? safe : "";
    size_t keep = max && code_points(s) > max ? max - 1 : SIZE_MAX, n = 0;
    for (; *s; s++) {
        if (((unsigned char)*s & 0xc0) != 0x80 && n++ == keep) {
            fputs("\xe2\x80\xa6", f);
            break;
        }
        const char *markup = strchr(marks, *s);
        if (markup)
            fputs(entities[markup - marks], f);
        else
            fputc(*s, f);
    }
    free(safe);
}

/* The scale of one panel: value -> bar length in pixels. */
typedef struct scale {
    bool log;
    double lo, hi;
} scale;

static scale make_scale(const rp__group *g) {
    scale s = {false, 0, 1};
    double vmax = 0, vmin = 0;
    for (size_t i = 0; i < g->nrows; i++) {
        double v = g->rows[i].value;
        if (v > vmax)
            vmax = v;
        if (v > 0 && (vmin == 0 || v < vmin))
            vmin = v;
    }
    if (vmax <= 0)
        return s;
    if (vmin > 0 && vmax / vmin > 100) {
        s.log = true;
        s.lo = pow(10, floor(log10(vmin)));
        s.hi = pow(10, ceil(log10(vmax)));
        if (s.hi <= s.lo)
            s.hi = s.lo * 10;
        return s;
    }
    /* A round upper bound (1, 2 or 5 times a power of ten) gives round grid lines. */
    double step = pow(10, floor(log10(vmax)));
    double m = vmax / step;
    s.hi = (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * step;
    return s;
}

static double scale_px(const scale *s, double v) {
    double x;
    if (v <= 0)
        return 0;
    if (s->log)
        x = (log10(v) - log10(s->lo)) / (log10(s->hi) - log10(s->lo));
    else
        x = v / s->hi;
    if (x < 0)
        x = 0;
    if (x > 1)
        x = 1;
    return x * BAR_W;
}

/* Short axis labels: 1, 10, 100, 1k, 2.5M ... */
static void axis_label(char *buf, size_t cap, double v) {
    static const struct {
        double div;
        const char *suffix;
    } units[] = {{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}, {1, ""}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (v >= units[i].div || i + 1 == sizeof units / sizeof units[0]) {
            snprintf(buf, cap, "%.3g%s", v / units[i].div, units[i].suffix);
            return;
        }
    }
}

static int panel_height(const rp__group *g) {
    return 24 + (int)g->nrows * ROW_H + 36;
}

/* The grid lines' values: powers of ten on a log scale, else sixths of the range. */
static int grid_ticks(const scale *s, double *ticks, int cap) {
    int nticks = 0;
    if (s->log) {
        /* Counted in whole decades, so the loop variable is an integer. */
        int decades = (int)lround(log10(s->hi / s->lo));
        for (int i = 0; i <= decades && nticks < cap; i++)
            ticks[nticks++] = s->lo * pow(10, i);
    } else {
        for (int i = 0; i <= 5; i++)
            ticks[nticks++] = s->hi * i / 5;
    }
    return nticks;
}

/* Grid lines and their labels, under the bars, and the axis caption. */
static void panel_grid(FILE *f, const layout *lo, const rp__group *g, const scale *s, int top,
                       int bottom) {
    double ticks[16];
    int nticks = grid_ticks(s, ticks, 16);
    for (int i = 0; i < nticks; i++) {
        double x = lo->bar_x + scale_px(s, ticks[i]);
        char label[32];
        axis_label(label, sizeof label, ticks[i]);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\"/>\n"
                "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\" "
                "fill=\"%s\">%s</text>\n",
                x, top - 2, x, bottom + 2, COLOR_GRID, x, bottom + 14, COLOR_MUTED, label);
    }
    fprintf(f,
            "<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\" fill=\"%s\">%s%s"
            "</text>\n",
            lo->bar_x + BAR_W / 2, bottom + 28, COLOR_MUTED,
            g->figure == RP_FIGURE_P50_NS      ? "median p50 latency, ns (shorter is better)"
            : g->figure == RP_FIGURE_BYTES_SEC ? "median bytes/s"
            : g->figure == RP_FIGURE_LOST      ? "median acknowledged writes lost (fewer is better)"
                                               : "median ops/s",
            s->log ? " (log scale)" : "");
}

/* The notes after a bar's value: ties, noise, stand-ins, failed checks. */
static void bar_notes(FILE *f, const rp__row *row) {
    const rp_metric *m = row->metric;
    rp__num n;
    if (row->tied)
        fputs(" (tied with the row above)", f);
    if (m->noisy)
        fprintf(f, " (noisy, spread %s)", rp__fmt_pct(&n, m->spread));
    if (row->backend && row->backend->local_runtime)
        fputs(" (local runtime)", f);
    const rp_correctness *k = &row->cell->correctness;
    if (k->present && k->lost_updates != 0)
        fprintf(f, " <tspan fill=\"%s\" font-weight=\"bold\">%s lost updates</tspan>", COLOR_FAIL,
                rp__fmt_int(&n, k->lost_updates));
    if (k->present && k->torn_reads > 0)
        fprintf(f, " <tspan fill=\"%s\" font-weight=\"bold\">%s torn reads</tspan>", COLOR_FAIL,
                rp__fmt_int(&n, k->torn_reads));
}

/* One row of a panel: the label, the bar and its value. */
static void panel_row(FILE *f, const layout *lo, const rp__group *g, const scale *s,
                      const rp__row *row, int ry) {
    double w = scale_px(s, row->value);
    rp__num n;
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" fill=\"%s\">", lo->label_right, ry + 14,
            COLOR_TEXT);
    rp__xml_text(f, row->label, LABEL_CHARS);
    fputs("</text>\n", f);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"%s/>\n", lo->bar_x,
            ry + 3, w < 1 && row->value > 0 ? 1.0 : w, BAR_H,
            rp_cell_role(row->cell) == RP_ROLE_BASELINE ? COLOR_LOCAL : COLOR_BAR,
            row->metric->noisy ? " fill-opacity=\"0.45\"" : "");
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" fill=\"%s\">%s%s", lo->bar_x + w + 6, ry + 14, COLOR_TEXT,
            rp__fmt_value(&n, g, row->value), g->figure == RP_FIGURE_OPS ? " ops/s" : "");
    bar_notes(f, row);
    fputs("</text>\n", f);
}

static void panel(FILE *f, const layout *lo, const rp__group *g, int y) {
    scale s = make_scale(g);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"14\" font-weight=\"bold\" fill=\"%s\">", MARGIN,
            y + 14, COLOR_TEXT);
    rp__xml_text(f, g->title, 0);
    fputs("</text>\n", f);
    int top = y + 24, bottom = top + (int)g->nrows * ROW_H;
    panel_grid(f, lo, g, &s, top, bottom);
    for (size_t i = 0; i < g->nrows; i++)
        panel_row(f, lo, g, &s, &g->rows[i], top + (int)i * ROW_H);
}

static int svg_body(const rp_doc *d, const rp__header *h, const rp__ranking *r, FILE *f) {
    int rc = 0;

    size_t not_measured = 0, failed = 0;
    for (size_t i = 0; i < d->ncells; i++) {
        const rp_cell *c = &d->cells[i];
        not_measured += c->status != RP_STATUS_OK;
        failed += c->correctness.present &&
                  (c->correctness.lost_updates != 0 || c->correctness.torn_reads > 0);
    }
    size_t longest = 8;
    for (size_t i = 0; i < r->nlabels; i++)
        if (code_points(r->labels[i]) > longest)
            longest = code_points(r->labels[i]);
    if (longest > LABEL_CHARS)
        longest = LABEL_CHARS;
    layout lo = {.label_right = MARGIN + (int)longest * CHAR_W};
    lo.bar_x = lo.label_right + 8;
    lo.width = lo.bar_x + BAR_W + VALUE_W;

    int height = HEAD_H;
    for (size_t i = 0; i < r->ngroups; i++)
        height += panel_height(&r->groups[i]) + 12;
    int footer = (not_measured ? 18 : 0) + (failed ? 18 : 0) + (r->ngroups ? 0 : 18);
    height += footer + MARGIN;

    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Verdana, Arial, sans-serif\" "
            "font-size=\"12\">\n"
            "<title>udbench results</title>\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n"
            "<text x=\"%d\" y=\"30\" font-size=\"18\" font-weight=\"bold\" fill=\"%s\">udbench "
            "results</text>\n",
            lo.width, height, lo.width, height, MARGIN, COLOR_TEXT);
    /* The machine and the run under the title: a chart without them cannot be compared. */
    int line = 0;
    for (size_t i = 0; i < h->n && line < 2; i++) {
        if (strcmp(h->items[i].key, "machine") != 0 && strcmp(h->items[i].key, "run") != 0)
            continue;
        fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"%s\">", MARGIN, 50 + 16 * line, COLOR_MUTED);
        rp__xml_text(f, h->items[i].value, 140);
        fputs("</text>\n", f);
        line++;
    }
    /* The legend: what the colours and the pale bars mean. */
    rp__num pct;
    fprintf(f,
            "<rect x=\"%d\" y=\"72\" width=\"12\" height=\"10\" fill=\"%s\"/>"
            "<text x=\"%d\" y=\"81\" font-size=\"11\" fill=\"%s\">the in-process baseline "
            "(local:)</text>\n"
            "<rect x=\"%d\" y=\"72\" width=\"12\" height=\"10\" fill=\"%s\"/>"
            "<text x=\"%d\" y=\"81\" font-size=\"11\" fill=\"%s\">a shared backend</text>\n"
            "<rect x=\"%d\" y=\"72\" width=\"12\" height=\"10\" fill=\"%s\" "
            "fill-opacity=\"0.45\"/>"
            "<text x=\"%d\" y=\"81\" font-size=\"11\" fill=\"%s\">noisy: the repetitions "
            "disagree by more than %s</text>\n",
            MARGIN, COLOR_LOCAL, MARGIN + 16, COLOR_MUTED, MARGIN + 190, COLOR_BAR, MARGIN + 206,
            COLOR_MUTED, MARGIN + 320, COLOR_BAR, MARGIN + 336, COLOR_MUTED,
            rp__fmt_pct(&pct, d->run.noise_threshold));
    int y = HEAD_H + 12;
    for (size_t i = 0; i < r->ngroups; i++) {
        panel(f, &lo, &r->groups[i], y);
        y += panel_height(&r->groups[i]) + 12;
    }
    if (!r->ngroups) {
        fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"%s\">No cell was measured.</text>\n", MARGIN,
                y + 12, COLOR_TEXT);
        y += 18;
    }
    if (failed) {
        fprintf(f,
                "<text x=\"%d\" y=\"%d\" fill=\"%s\" font-weight=\"bold\">%zu correctness "
                "check%s failed (lost updates or torn reads): see the text or Markdown "
                "report.</text>\n",
                MARGIN, y + 12, COLOR_FAIL, failed, failed == 1 ? "" : "s");
        y += 18;
    }
    if (not_measured)
        fprintf(f,
                "<text x=\"%d\" y=\"%d\" fill=\"%s\">%zu cell%s not measured (n/a or error): "
                "see the text or Markdown report.</text>\n",
                MARGIN, y + 12, COLOR_MUTED, not_measured, not_measured == 1 ? "" : "s");
    fputs("</svg>\n", f);

    return rc;
}

int rp__report_svg(const rp_doc *d, FILE *f) {
    return rp__report_with(d, f, svg_body);
}
