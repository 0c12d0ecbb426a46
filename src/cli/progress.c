/* The one progress display of the long commands (extract, eval --cache, train, multi-target match):
 * the library reports counts through callbacks in its config structs, this file draws them on stderr. */
#include <stdio.h>
#include <unistd.h>

#include "cli/cli.h"

#define BAR_WIDTH 30
#define TTY_REDRAW_S 0.2  /* a terminal bar is redrawn at most 5 times a second */
#define LINE_EVERY_S 60.0 /* plain lines: at each tenth of the work, and at least once a minute */

void gc_progress_init(gc_progress *p, const char *label, const char *unit, bool on) {
    *p = (gc_progress){.label = label, .unit = unit, .on = on, .tty = isatty(2) != 0, .tenth = -1, .last = -1e9};
}

/* "1h02m" / "4m05s" */
static void fmt_duration(char *buf, size_t n, double s) {
    const long t = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

/* One state line: done/total, the rate over this run and the time left (no line end). */
static void draw(const gc_progress *p, FILE *f) {
    const int64_t n = p->done - p->base;
    const double rate = p->seconds > 0 && n > 0 ? n / p->seconds : 0;
    char eta[32] = "?";
    if (rate > 0) fmt_duration(eta, sizeof eta, (double)(p->total - p->done) / rate);
    fprintf(f, "%s ", p->label);
    if (p->tty) {
        const int fill = p->total > 0 ? (int)(BAR_WIDTH * GC_MIN(p->done, p->total) / p->total) : BAR_WIDTH;
        fputc('[', f);
        for (int i = 0; i < BAR_WIDTH; i++) fputc(i < fill ? '#' : '.', f);
        fputs("] ", f);
    }
    fprintf(f, "%lld/%lld %ss", (long long)p->done, (long long)p->total, p->unit);
    if (!p->tty && p->total > 0) fprintf(f, " (%d%%)", (int)(100 * p->done / p->total));
    if (rate >= 1) fprintf(f, "  %.2f %ss/s", rate, p->unit);
    else if (rate > 0) fprintf(f, "  %.1f s/%s", 1 / rate, p->unit);
    if (p->done < p->total) fprintf(f, "  ETA %s", eta);
    if (p->extra[0]) fprintf(f, "  %s", p->extra);
}

static void emit(gc_progress *p, bool final) {
    if (p->tty) {
        fputs("\r", stderr);
        draw(p, stderr);
        fputs("\033[K", stderr); /* clear what a longer previous line left */
        if (final) fputc('\n', stderr);
        p->open = !final;
    } else {
        draw(p, stderr);
        fputc('\n', stderr);
    }
    fflush(stderr);
}

void gc_progress_update(gc_progress *p, int64_t done, int64_t total, double seconds, const char *extra) {
    if (!p->on) return;
    p->done = done, p->total = total, p->seconds = seconds, p->started = true;
    snprintf(p->extra, sizeof p->extra, "%s", extra ? extra : "");
    const int tenth = total > 0 ? (int)(10 * GC_MIN(done, total) / total) : 10;
    const bool due = p->tty ? seconds - p->last >= TTY_REDRAW_S || done >= total
                            : tenth != p->tenth || seconds - p->last >= LINE_EVERY_S;
    if (!due) return;
    p->tenth = tenth, p->last = seconds;
    emit(p, false);
}

void gc_progress_note(gc_progress *p, const char *text) {
    if (!p->on) return;
    if (p->open) fputs("\r\033[K", stderr);
    fprintf(stderr, "%s\n", text);
    p->open = false;
    if (p->tty && p->started) emit(p, false);
}

void gc_progress_end(gc_progress *p) {
    if (!p->on || !p->started) return;
    /* the final state once: a terminal bar ends its line, plain output repeats only an unprinted state */
    if (p->tty || p->last != p->seconds) emit(p, true);
    p->open = false;
}
