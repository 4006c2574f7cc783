#!/usr/bin/python3
"""Generate tests/unit/cron_cases.h, the table test_cron.c checks cron_next against.

Each case is (expression, after, expected next firing). The expected value
comes from a deliberately plain reference written here: an expression is
parsed into Python sets, and the search walks forward from the minute after
`after` one minute at a time, jumping to the next hour when the hour cannot
match and to the next midnight when the day cannot (no minute of such an
hour or day can match, so the jump skips only non-matches). Days come from
Python's datetime, not from the calendar arithmetic in cron.c. The day rule
is classic Vixie cron: when neither day-of-month nor day-of-week starts with
'*', a day matches if either matches, otherwise both must.

Every case is also computed with Debian's python3-croniter
(apt-get install -y python3-croniter). croniter is not the reference: it
decides the day rule on the expanded value lists, so a stepped '*' such as
'*/2' counts as restricted (Vixie: unrestricted) and '1-31' as unrestricted
(Vixie: restricted), and it gives up after 50 years. Disagreements are
printed and listed at the top of the generated header.

Usage: /usr/bin/python3 tests/tools/gen_cron_cases.py [-o tests/unit/cron_cases.h]
The header is committed, so the unit tests need neither croniter nor this.
"""

import argparse
import datetime as dt
import os
import random
import re
import sys

UTC = dt.timezone.utc

# ---- the reference ---------------------------------------------------------

MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

MONTHS = ["jan", "feb", "mar", "apr", "may", "jun",
          "jul", "aug", "sep", "oct", "nov", "dec"]
WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

# name, lowest, highest, largest step, names (value = index + base)
FIELDS = [
    ("minute", 0, 59, 60, None, 0),
    ("hour", 0, 23, 24, None, 0),
    ("day-of-month", 1, 31, 31, None, 0),
    ("month", 1, 12, 12, MONTHS, 1),
    ("day-of-week", 0, 7, 7, WEEKDAYS, 0),
]

ITEM = re.compile(r"^(?:(\*)|([0-9a-z]+)(?:-([0-9a-z]+))?)(?:/([0-9]+))?$")


def ref_value(field, text):
    _, lo, hi, _, names, base = field
    if text.isdigit():
        v = int(text)
    elif names and text in names:
        v = names.index(text) + base
    else:
        raise ValueError("bad value %r" % text)
    if not lo <= v <= hi:
        raise ValueError("out of range %r" % text)
    return v


def ref_field(field, text):
    _, lo, hi, step_max, _, _ = field
    values = set()
    for item in text.lower().split(","):
        m = ITEM.match(item)
        if not m:
            raise ValueError("bad item %r" % item)
        star, a, b, step = m.groups()
        if star:
            first, last = lo, hi
        else:
            first = ref_value(field, a)
            last = ref_value(field, b) if b else (hi if step else first)
            if last < first:
                raise ValueError("reversed %r" % item)
        n = int(step) if step else 1
        if not 1 <= n <= step_max:
            raise ValueError("step %r" % item)
        values.update(range(first, last + 1, n))
    return values


class Ref:
    """A parsed expression: value sets and the two '*' flags."""

    def __init__(self, expr, croniter_day_rule=False):
        text = MACROS.get(expr.strip().lower(), expr)
        parts = text.split()
        if len(parts) != 5:
            raise ValueError("need 5 fields")
        sets = [ref_field(f, p) for f, p in zip(FIELDS, parts)]
        self.minutes, self.hours, self.doms, self.months, dows = sets
        self.dows = {d % 7 for d in dows}
        if croniter_day_rule:
            # croniter's rule, only to explain disagreements: a field is
            # unrestricted when its values are all the values.
            self.dom_star = len(self.doms) == 31
            self.dow_star = len(self.dows) == 7
        else:
            self.dom_star = parts[2].startswith("*")
            self.dow_star = parts[4].startswith("*")

    def day_ok(self, day):
        if day.month not in self.months:
            return False
        dom = day.day in self.doms
        dow = day.isoweekday() % 7 in self.dows
        if self.dom_star or self.dow_star:
            return dom and dow
        return dom or dow

    def next(self, after):
        """First match strictly after `after` (unix seconds), or -1 if none
        within 401 years (the calendar repeats every 400)."""
        t = dt.datetime.fromtimestamp((after // 60 + 1) * 60, UTC)
        last_year = t.year + 401
        while t.year <= last_year:
            if not self.day_ok(t.date()):
                t = dt.datetime.combine(t.date() + dt.timedelta(days=1),
                                        dt.time(0, 0), UTC)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + dt.timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += dt.timedelta(minutes=1)
            else:
                return int(t.timestamp())
        return -1


# ---- croniter, for comparison -------------------------------------------------

def croniter_next(expr, after):
    from croniter import croniter, CroniterBadDateError
    start = dt.datetime.fromtimestamp(after, UTC)
    try:
        return int(croniter(expr, start).get_next(float))
    except CroniterBadDateError:
        return -1


# ---- the cases --------------------------------------------------------------

def ts(s):
    """'2024-02-28 23:59:30' (UTC) -> unix seconds."""
    return int(dt.datetime.fromisoformat(s).replace(tzinfo=UTC).timestamp())


def fmt(t):
    d = dt.datetime.fromtimestamp(t, UTC)
    return d.strftime("%Y-%m-%d %H:%M:%S" if d.second else "%Y-%m-%d %H:%M")


def fmt_next(t):
    return "never" if t == -1 else fmt(t)


# Hand-picked expressions, each with the moments to search from. Grouped by
# what they exercise; the comment in the header repeats the group.
GROUPS = [
    ("every minute, second handling, strictly after", [
        ("* * * * *", ["2023-01-15 10:17:23", "2023-01-15 10:17:00",
                       "2024-12-31 23:59:59", "1970-01-01 00:00:00",
                       "1969-12-31 23:59:30", "2038-01-19 03:14:07"]),
        ("*/15 * * * *", ["2023-01-15 10:17:23", "2023-01-15 10:45:00",
                          "2023-01-15 23:59:00"]),
        ("0 * * * *", ["2023-01-15 10:00:00", "2023-01-15 10:00:01",
                       "2024-02-28 23:30:00"]),
        ("30 9 * * *", ["2023-01-15 09:30:00", "2023-01-15 09:29:59",
                        "2024-12-31 12:00:00"]),
        ("59 23 * * *", ["2023-01-15 23:59:00", "2024-12-31 23:58:59"]),
    ]),
    ("month ends", [
        ("0 0 31 * *", ["2023-01-31 00:00:00", "2023-03-31 00:00:00",
                        "2023-05-31 12:00:00", "2023-07-31 00:00:00",
                        "2023-08-31 00:00:00", "2023-10-15 00:00:00",
                        "2023-12-31 00:00:00"]),
        ("0 0 30 * *", ["2023-01-30 00:00:00", "2024-01-30 00:00:00",
                        "2023-04-30 00:00:00"]),
        ("0 0 29 * *", ["2023-01-29 00:00:00", "2024-01-29 00:00:00",
                        "2100-01-29 00:00:00"]),
        ("59 23 28-31 * *", ["2023-02-28 23:59:00", "2024-02-29 23:59:00",
                             "2023-04-30 23:59:00", "2023-12-31 23:59:00"]),
        ("0 12 31 4,6,9,11,12 *", ["2023-01-01 00:00:00"]),
        ("0 0 1 * *", ["2023-01-31 23:59:59", "2024-02-29 23:59:00",
                       "2024-12-31 23:59:59"]),
        ("0 0 1,31 * *", ["2023-02-21 00:00:00", "2023-04-02 00:00:00",
                          "2024-02-02 00:00:00"]),
        ("0 0 1,30 * *", ["2023-02-21 00:00:00", "2024-02-02 00:00:00"]),
        ("0 0 28-31 2 *", ["2023-02-27 00:00:00", "2023-02-28 00:00:00",
                           "2024-02-28 00:00:00", "2024-02-29 00:00:00"]),
    ]),
    ("leap years and February 29", [
        ("0 0 29 2 *", ["2023-11-14 22:13:20", "2024-02-29 00:00:00",
                        "2024-02-28 23:59:59", "2096-03-01 00:00:00",
                        "1999-06-01 00:00:00", "2000-02-29 00:00:00",
                        "2399-01-01 00:00:00", "1970-01-01 00:00:00"]),
        ("30 6 29 2 *", ["2024-02-29 06:29:59", "2024-02-29 06:30:00"]),
        ("0 0 29 2 1", ["2024-01-01 00:00:00", "2024-02-26 00:00:00",
                        "2024-02-27 00:00:00"]),
        ("0 0 29 2 */6", ["2024-01-01 00:00:00", "2100-01-01 00:00:00"]),
        ("0 0 29 2 *", ["2100-01-01 00:00:00"]),
        ("0 0 28 2 *", ["2024-02-28 00:00:00", "2100-02-28 00:00:00"]),
        ("0 0 1 3 *", ["2024-02-29 00:00:00", "2100-02-28 12:00:00"]),
        ("0 0 * 2 *", ["2024-02-28 12:00:00", "2023-02-28 12:00:00",
                       "2100-02-28 12:00:00", "2000-02-28 23:59:59"]),
    ]),
    ("day-of-month and day-of-week", [
        ("0 0 13 * 5", ["2023-01-01 00:00:00", "2023-01-06 00:00:00",
                        "2023-01-13 00:00:00", "2023-10-12 12:00:00"]),
        ("0 0 13 * FRI", ["2026-11-27 09:32:00"]),
        ("0 0 1-7 * MON", ["2023-01-01 00:00:00", "2023-01-07 00:00:00",
                           "2023-01-09 00:00:00"]),
        ("0 0 */2 * 1", ["2023-01-01 00:00:00", "2023-01-09 00:00:00",
                         "2023-06-01 00:00:00"]),
        ("0 0 1 * */2", ["2023-01-01 00:00:00", "2023-02-01 00:00:00",
                         "2023-03-01 00:00:00"]),
        ("0 0 1,15 * 0", ["2023-01-01 00:00:00", "2023-01-02 00:00:00",
                          "2023-01-14 00:00:00"]),
        ("0 0 * * 1-5", ["2023-01-13 12:00:00", "2023-01-14 00:00:00"]),
        ("0 0 1-31 * 1", ["2023-01-01 00:00:00", "2023-01-02 12:00:00"]),
        ("0 0 * * 0-7", ["2023-01-01 12:00:00"]),
        ("0 0 31 * 3", ["2023-02-01 00:00:00", "2023-04-30 00:00:00"]),
        ("0 9 1 1 MON", ["2023-01-01 10:00:00", "2024-01-01 09:00:00"]),
        ("0 0 31 11 SAT", ["2023-01-01 00:00:00"]),
        ("0 0 30 2 MON", ["2023-01-01 00:00:00", "2023-02-27 00:00:00"]),
        ("15 14 1 * *", ["2023-01-01 14:15:00"]),
        ("0 0 *,1 * MON", ["2023-01-01 00:00:00"]),
        ("0 0 1,* * MON", ["2023-01-01 00:00:00"]),
        ("0 0 15 * 1,*", ["2023-01-03 00:00:00"]),
        ("0 0 10 2 SAT", ["2023-01-01 00:00:00", "2023-02-04 00:00:00"]),
    ]),
    ("steps over ranges and from a start", [
        ("10-50/15 * * * *", ["2023-01-15 10:17:23", "2023-01-15 10:55:00"]),
        ("0 9-17/2 * * *", ["2023-01-15 08:00:00", "2023-01-15 17:00:00",
                            "2023-01-15 12:00:00"]),
        ("0 0 1-31/10 * *", ["2023-01-15 00:00:00", "2023-01-31 00:00:00",
                             "2023-02-21 00:00:00"]),
        ("0 0 1 1-12/3 *", ["2023-01-15 00:00:00", "2023-10-01 00:00:00"]),
        ("0 0 * * 1-7/2", ["2023-01-06 00:00:00", "2023-01-07 00:00:00"]),
        ("5/20 * * * *", ["2023-01-15 10:17:23", "2023-01-15 10:45:00"]),
        ("0 3/5 * * *", ["2023-01-15 10:17:23", "2023-01-15 23:00:00"]),
        ("0 0 2/7 * *", ["2023-01-15 00:00:00", "2023-01-30 00:00:00"]),
        ("0 0 1 2/5 *", ["2023-01-15 00:00:00", "2023-07-02 00:00:00",
                         "2023-12-01 00:00:00"]),
        ("0 0 * * 1/2", ["2023-01-06 00:00:00", "2023-01-07 00:00:00"]),
        ("0 0 * * 2/3", ["2023-01-01 00:00:00", "2023-01-04 00:00:00"]),
        ("*/7 */5 * * *", ["2023-01-15 10:17:23", "2023-01-15 20:57:00"]),
        ("*/60 * * * *", ["2023-01-15 10:17:23"]),
        ("*/59 * * * *", ["2023-01-15 10:00:00", "2023-01-15 10:59:00"]),
        ("0 */24 * * *", ["2023-01-15 10:17:23"]),
        ("0 0 */31 * *", ["2023-01-15 10:17:23"]),
        ("0 0 1 */12 *", ["2023-01-15 10:17:23"]),
        ("0 0 * * */7", ["2023-01-15 10:17:23"]),
        ("1-5,10-20/5,*/25 0 * * *", ["2023-01-15 00:00:00",
                                      "2023-01-15 00:20:00"]),
        ("0 0-23/6,1 * * *", ["2023-01-15 06:30:00"]),
    ]),
    ("names", [
        ("0 0 1 JAN,JUL *", ["2023-01-15 00:00:00", "2023-07-01 00:00:00"]),
        ("0 0 * jan-mar MON-FRI", ["2023-03-31 00:00:00",
                                   "2023-04-01 00:00:00"]),
        ("0 0 1 Dec sun", ["2023-01-15 00:00:00"]),
        ("0 12 * * sat,SUN", ["2023-01-13 13:00:00", "2023-01-14 12:00:00"]),
        ("0 0 1 FEB-DEC/2 *", ["2023-01-15 00:00:00", "2023-04-01 00:00:00"]),
        ("0 0 * * Mon/2", ["2023-01-06 00:00:00"]),
        ("0 0 * * tue-thu", ["2023-01-05 00:00:00"]),
        ("0 0 * MaY *", ["2023-06-01 00:00:00"]),
        ("0 0 1 * SAT-SAT", ["2023-01-01 00:00:00"]),
    ]),
    ("Sunday as 0 and 7", [
        ("0 0 * * 7", ["2023-01-01 00:00:00", "2023-01-02 00:00:00"]),
        ("0 0 * * 0", ["2023-01-01 00:00:00", "2023-01-02 00:00:00"]),
        ("0 0 * * 5-7", ["2023-01-08 00:00:00", "2023-01-09 00:00:00"]),
        ("0 0 * * 0,7", ["2023-01-02 00:00:00"]),
        ("0 0 * * 6-7", ["2023-01-09 00:00:00"]),
    ]),
    ("macros", [
        ("@hourly", ["2023-01-15 10:17:23", "2024-12-31 23:00:00"]),
        ("@daily", ["2023-01-15 10:17:23", "2024-12-31 23:59:59"]),
        ("@midnight", ["2023-01-15 00:00:00"]),
        ("@weekly", ["2023-01-15 10:17:23", "2023-01-14 23:59:59"]),
        ("@monthly", ["2024-01-31 00:00:00", "2024-02-29 23:59:59"]),
        ("@yearly", ["2023-01-01 00:00:00", "2024-12-31 23:59:59"]),
        ("@annually", ["2099-12-31 23:59:00"]),
        ("@DAILY", ["2023-01-15 10:17:23"]),
    ]),
    ("year and century boundaries", [
        ("0 0 1 1 *", ["2023-12-31 23:59:00", "1969-12-31 23:59:59",
                       "2099-12-31 23:59:59", "2399-12-31 23:59:59"]),
        ("59 23 31 12 *", ["2023-01-15 10:17:23", "2023-12-31 23:59:00"]),
        ("0 0 * * 1", ["2099-12-30 00:00:00", "2100-02-28 12:00:00"]),
        ("0 0 1 * 1", ["2038-01-19 03:14:07"]),
    ]),
    ("whitespace", [
        ("  0\t0  1 * *  ", ["2023-01-15 10:17:23"]),
    ]),
    ("never (searched for 401 years)", [
        ("0 0 30 2 *", ["2023-01-15 10:17:23"]),
        ("0 0 31 4 *", ["2023-01-15 10:17:23"]),
        ("0 0 31 2,4,6,9,11 *", ["2023-01-15 10:17:23"]),
        ("0 0 30,31 2 *", ["2000-01-01 00:00:00"]),
        ("0 0 30 feb */2", ["2023-01-15 10:17:23"]),
    ]),
]


def random_field(rng, field):
    _, lo, hi, step_max, names, base = field
    if field[0] == "day-of-week":
        hi = 6 if rng.random() < 0.8 else 7

    def value():
        v = rng.randint(lo, hi)
        if names and rng.random() < 0.3 and v - base < len(names):
            name = names[v - base]
            return rng.choice([name, name.upper(), name.capitalize()])
        return str(v)

    def item():
        kind = rng.random()
        if kind < 0.35:
            return value()
        if kind < 0.55:
            a, b = sorted(rng.sample(range(lo, hi + 1), 2))
            if names and rng.random() < 0.3 and b - base < len(names):
                return "%s-%s" % (names[a - base], names[b - base])
            return "%d-%d" % (a, b)
        if kind < 0.75:
            a, b = sorted(rng.sample(range(lo, hi + 1), 2))
            return "%d-%d/%d" % (a, b, rng.randint(1, max(1, (b - a))))
        if kind < 0.9:
            return "*/%d" % rng.randint(1, min(step_max, 20))
        return "%d/%d" % (rng.randint(lo, hi), rng.randint(1, min(step_max, 10)))

    r = rng.random()
    if r < 0.4:
        return "*"
    return ",".join(item() for _ in range(rng.choice([1, 1, 1, 2, 3])))


def random_cases(n, seed):
    rng = random.Random(seed)
    lo, hi = ts("1970-01-01 00:00:00"), ts("2100-12-31 23:59:59")
    out = []
    while len(out) < n:
        fields = [random_field(rng, f) for f in FIELDS]
        expr = " ".join(fields)
        try:
            Ref(expr)
        except ValueError:
            continue
        out.append((expr, rng.randint(lo, hi)))
    return out


def explain(expr, after, theirs):
    """Why croniter answered `theirs`, as far as this script can tell."""
    ref = Ref(expr, croniter_day_rule=True)
    if theirs == -1:
        if not ref.dom_star and not ref.dow_star:
            parts = MACROS.get(expr.strip().lower(), expr).split()
            if Ref(" ".join(parts[:4] + ["*"])).next(after) == -1:
                return "croniter OR bug"
        return "croniter gives up after 50 years"
    if ref.next(after) == theirs:
        return "day rule"
    a = dt.datetime.fromtimestamp(after, UTC)
    w = dt.datetime.fromtimestamp(ref.next(after), UTC)
    month_days = (w.replace(day=1) - dt.timedelta(days=1)).day
    if (w.day == min(ref.doms) and (w.year, w.month) != (a.year, a.month)
            and month_days < max(ref.doms)):
        return "croniter month-end bug"
    return "unexplained"


def c_string(s):
    assert '"' not in s and "\\" not in s
    return '"%s"' % s.replace("\t", "\\t")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("-o", "--output",
                    default=os.path.join(here, "..", "unit", "cron_cases.h"))
    ap.add_argument("--random", type=int, default=150,
                    help="random expressions to add (default 150)")
    ap.add_argument("--seed", type=int, default=20261127)
    args = ap.parse_args()

    groups = [(title, [(e, ts(a)) for e, afters in items for a in afters])
              for title, items in GROUPS]
    groups.append(("random expressions (seed %d)" % args.seed,
                   random_cases(args.random, args.seed)))

    lines, disagreements, total = [], [], 0
    for title, cases in groups:
        lines.append("\t/* ---- %s ---- */" % title)
        for expr, after in cases:
            want = Ref(expr).next(after)
            theirs = croniter_next(expr, after)
            if theirs != want:
                disagreements.append((expr, after, want, theirs,
                                      explain(expr, after, theirs)))
            lines.append("\t{ %s, %d, %d }, /* %s -> %s */" % (
                c_string(expr), after, want, fmt(after), fmt_next(want)))
            total += 1

    # Line comments: expressions such as '*/6' would end a block comment.
    out = []
    out.append("// cron_cases.h - generated by tests/tools/gen_cron_cases.py; do not edit.")
    out.append("//")
    out.append("// %d cases of (expression, after, expected next firing), in unix seconds" % total)
    out.append("// UTC, -1 for never. Expected values come from the generator's brute-force")
    out.append("// reference (classic Vixie day rule). python3-croniter disagrees on %d:" % len(disagreements))
    out.append("// 'day rule': croniter calls a day field unrestricted when it lists every")
    out.append("// value rather than when it starts with '*', so '*/2' is restricted for it")
    out.append("// and '1-31' or '0/1' unrestricted; its answer is what that rule gives.")
    out.append("// 'croniter month-end bug': leaving a month shorter than the largest listed")
    out.append("// day (February for '1,30'), croniter 1.3.5 skips the next month's first")
    out.append("// listed day ('0 0 1,31 * *' from Feb 21 gives Mar 31, not Mar 1).")
    out.append("// 'croniter OR bug': under the OR rule croniter finds nothing at all when")
    out.append("// the day-of-month half alone never matches ('0 0 31 11 SAT' is every")
    out.append("// Saturday in November; croniter says never).")
    out.append("//")
    for expr, after, want, theirs, why in disagreements:
        out.append("//   '%s' after %s: %s, croniter %s (%s)" % (
            expr, fmt(after), fmt_next(want), fmt_next(theirs), why))
    out.append("")
    out.append("struct cron_case {")
    out.append("\tconst char *expr;")
    out.append("\tint64_t after;")
    out.append("\tint64_t next;")
    out.append("};")
    out.append("")
    out.append("static const struct cron_case cron_cases[] = {")
    out.extend(lines)
    out.append("};")
    out.append("")
    with open(args.output, "w") as f:
        f.write("\n".join(out))

    print("%d cases written to %s" % (total, os.path.relpath(args.output)))
    print("croniter disagrees on %d:" % len(disagreements))
    for expr, after, want, theirs, why in disagreements:
        print("  '%s' after %s: reference %s, croniter %s (%s)" % (
            expr, fmt(after), fmt_next(want), fmt_next(theirs), why))
    return 0


if __name__ == "__main__":
    sys.exit(main())
