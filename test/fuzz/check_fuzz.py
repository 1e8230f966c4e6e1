#!/usr/bin/python3
"""check() / explain() fuzzer for migguard.

Feeds migguard.check(sql) -- and migguard.explain(sql) when it exists --
random, truncated and mutated SQL: the DDL of ddl_fuzz.py, statements that
call a side-effect function in every place an expression can stand
(defaults, USING, CHECK, index expressions and predicates, partition
bounds, generated columns), the statements of PostgreSQL's regression suite
when a corpus directory is given, and edge cases (deep nesting, long and
non-ASCII names, many statements in one string, unterminated quotes and
comments).  Half of the calls run as a superuser, half as an unprivileged
role.

Asserts, and exits non-zero when one fails:
  - the server never drops the connection (a crash; the input is written
    to the reproducer file and printed);
  - nothing the fuzzer passed in ran: the side-effect function's table is
    empty and the catalog (pg_class) is unchanged;
  - with --strict: no internal error (SQLSTATE XX000).
Prints its figures as one JSON line.

Usage: check_fuzz.py --host SOCKDIR --port N --dbname DB --seconds S
                     [--seed N] [--corpus DIR] [--reproducer FILE] [--strict]
"""

import argparse
import glob
import json
import os
import random
import sys
import time

import psycopg2

import ddl_fuzz

SIDE = "fuzz_boom()"
SIDE_EFFECT_STATEMENTS = [
    "ALTER TABLE ft1 ADD COLUMN z int DEFAULT %s" % SIDE,
    "ALTER TABLE ft1 ADD COLUMN z int GENERATED ALWAYS AS (%s + a) STORED" % SIDE,
    "ALTER TABLE ft1 ALTER COLUMN a TYPE bigint USING a + %s" % SIDE,
    "ALTER TABLE ft1 ALTER COLUMN a SET DEFAULT %s" % SIDE,
    "ALTER TABLE ft1 ADD CONSTRAINT zc CHECK (a > %s)" % SIDE,
    "ALTER TABLE ft0 ADD CONSTRAINT zc CHECK (a > %s) NOT VALID" % SIDE,
    "CREATE INDEX zi ON ft0 ((a + %s))" % SIDE,
    "CREATE INDEX CONCURRENTLY zi ON ft0 (a) WHERE a > %s" % SIDE,
    "CREATE TABLE fp0_9 PARTITION OF fp0 FOR VALUES FROM (%s) TO (9999)" % SIDE,
    "ALTER TABLE fp0 ATTACH PARTITION fp0_9 FOR VALUES FROM (%s) TO (9999)" % SIDE,
    "ALTER TABLE ft0 ALTER COLUMN b SET DATA TYPE int USING (%s)" % SIDE,
    "CREATE TABLE zt AS SELECT %s" % SIDE,
    "ALTER TABLE ft1 ADD COLUMN z int DEFAULT (SELECT %s)" % SIDE,
    "DO $$ BEGIN PERFORM %s; END $$" % SIDE,
    "CALL fuzz_proc()",
    "SELECT %s" % SIDE,
    "INSERT INTO fuzz_sidefx VALUES (now())",
    "COPY ft1 FROM PROGRAM 'true'",
    "DROP TABLE ft1",
    "TRUNCATE ft0",
    "VACUUM FULL ft0",
    "ALTER TABLE ft0 ALTER COLUMN a SET NOT NULL",
    "ALTER TABLE ft0 ADD FOREIGN KEY (a) REFERENCES ft1 (id)",
    "EXPLAIN ANALYZE SELECT %s" % SIDE,
    "PREPARE zp AS SELECT %s; EXECUTE zp" % SIDE,
]

EDGE_CASES = [
    "", " ", ";", ";;;", "--", "/*", "/* /* */", "'", "\"", "$$", "$a$", "E'\\",
    "ALTER", "ALTER TABLE", "ALTER TABLE ft0", "ALTER TABLE ft0 ALTER",
    "CREATE INDEX ON", "REINDEX", "CLUSTER", "VACUUM (FULL", "BEGIN", "COMMIT",
    "ROLLBACK", "SAVEPOINT x", "SET LOCAL migguard.allow = 'index_not_concurrent'",
    "RESET ALL", "DISCARD ALL", "LOCK ft0", "\\d ft0",
    "SELECT " + "(" * 5000 + "1" + ")" * 5000,
    "ALTER TABLE ft0 ADD COLUMN z int DEFAULT " + "(" * 3000 + "1" + ")" * 3000,
    "ALTER TABLE \"%s\" ADD COLUMN z int" % ("ä" * 70),
    "ALTER TABLE \"ft0\" RENAME COLUMN a TO \"%s\"" % ("日本" * 40),
    "CREATE INDEX \"%s\" ON ft0 (a)" % ("é" * 200),
    "ALTER TABLE ft0 ADD COLUMN " + ", ADD COLUMN ".join("z%d int" % i for i in range(1500)),
    "; ".join("ALTER TABLE ft0 ADD COLUMN z%d int" % i for i in range(3000)),
    "; ".join("CREATE INDEX ON ft%d (a)" % (i % 5) for i in range(2000)),
    "ALTER TABLE ft0 ALTER COLUMN a TYPE int[] USING ARRAY[a]",
    "ALTER TABLE ONLY fp0 ADD CONSTRAINT c CHECK (k > 0)",
    "ALTER TABLE fp0 DETACH PARTITION fp0_0 FINALIZE",
    "ALTER TABLE ALL IN TABLESPACE pg_default SET TABLESPACE pg_default",
    "ALTER INDEX ALL IN TABLESPACE pg_default SET TABLESPACE pg_default",
    "REINDEX SYSTEM", "REINDEX DATABASE fuzz", "REINDEX SCHEMA public",
    "REINDEX (CONCURRENTLY, VERBOSE) TABLE ft0", "CLUSTER VERBOSE",
    "VACUUM (FULL, FREEZE, VERBOSE, ANALYZE) ft0, ft1, fp0",
    "CREATE TABLE zz (LIKE ft0 INCLUDING ALL) PARTITION BY RANGE (id)",
    "ALTER TABLE ft0 OF no_such_type", "ALTER TABLE ft0 NOT OF",
    "ALTER TYPE no_such RENAME VALUE 'a' TO 'b'",
    "CREATE RULE r AS ON INSERT TO ft0 DO INSTEAD NOTHING",
    "CREATE POLICY p ON ft0 USING (%s > 0)" % SIDE,
    "ALTER TABLE ft0 SET SCHEMA pg_catalog",
    "ALTER SEQUENCE no_such RESTART", "DROP TRIGGER IF EXISTS t ON ft0",
    "CREATE OR REPLACE VIEW fview AS SELECT %s AS x" % SIDE,
    "ALTER TABLE ft0 ADD COLUMN z int DEFAULT 1 \x01",
    "ALTER TABLE ft0 ADD COLUMN z text DEFAULT 'unterminated",
    "ALTER TABLE ft0 ADD COLUMN z text DEFAULT $q$ never closed",
    "ALTER TABLE ft0 ADD COLUMN z int /* unterminated comment",
    "ALTER TABLE ft0 ADD COLUMN z int DEFAULT 1; SELECT %s" % SIDE,
]

TOKENS = ["ALTER", "TABLE", "INDEX", "CONCURRENTLY", "ONLY", "IF", "EXISTS", "NOT",
          "NULL", "DEFAULT", "(", ")", ",", ";", "'", "\"", "$$", "::", "USING",
          "PARTITION", "OF", "FOR", "VALUES", "FROM", "TO", "ATTACH", "DETACH",
          "CHECK", "CONSTRAINT", "FOREIGN", "KEY", "REFERENCES", "PRIMARY", "UNIQUE",
          "TYPE", "SET", "DROP", "ADD", "COLUMN", "RENAME", "INHERIT", "CASCADE",
          "ft0", "fp0", "fi0", "a", "k", SIDE, "1", "-1", "2147483648", "NULL::int",
          "ROW(1,2)", "ARRAY[1]", "'ä'", "\"日本\"", "\\", "/*", "*/", "--", "\n",
          "GENERATED ALWAYS AS", "STORED", "IDENTITY", "WITH", "(fillfactor=10)",
          "VALIDATE", "NO", "MAXVALUE", "MINVALUE", "DEFAULT PARTITION", "COLLATE \"C\""]


def corpus(args, rnd):
    """Sources of statements, each with its share of the draws."""
    r = random.Random(args.seed + 1)
    regress = []
    if args.corpus and os.path.isdir(args.corpus):
        for f in sorted(glob.glob(os.path.join(args.corpus, "*.sql"))):
            try:
                text = open(f, encoding="utf-8", errors="replace").read()
            except OSError:
                continue
            # statements roughly: split on ";\n"; psql meta-commands stay in
            # (check() must cope with anything)
            for s in text.split(";\n"):
                s = s.strip()
                if s and len(s) < 20000:
                    regress.append(s)
    sources = [(0.4, [ddl_fuzz.ddl(r) for _ in range(2000)]),
               (0.2, SIDE_EFFECT_STATEMENTS),
               (0.1, EDGE_CASES)]
    if regress:
        sources.append((0.3, regress))
    return sources


def draw(sources, rnd):
    x = rnd.random() * sum(w for w, _ in sources)
    for w, stmts in sources:
        if x < w:
            return rnd.choice(stmts)
        x -= w
    return rnd.choice(sources[-1][1])


def mutate(s, rnd):
    ops = rnd.randrange(1, 4)
    for _ in range(ops):
        m = rnd.randrange(9)
        n = len(s)
        if m == 0 and n:                      # truncate (also mid-character)
            s = s[:rnd.randrange(n)]
        elif m == 1 and n:                    # delete a span
            i = rnd.randrange(n)
            s = s[:i] + s[i + rnd.randrange(1, 20):]
        elif m == 2 and n:                    # duplicate a span
            i = rnd.randrange(n)
            s = s[:i] + s[i:i + rnd.randrange(1, 40)] * 2 + s[i:]
        elif m == 3:                          # insert a token
            i = rnd.randrange(n + 1)
            s = s[:i] + " " + rnd.choice(TOKENS) + " " + s[i:]
        elif m == 4 and n:                    # replace a character
            i = rnd.randrange(n)
            s = s[:i] + chr(rnd.choice([0x20, 0x27, 0x22, 0x28, 0x29, 0x3b, 0xe4, 0x65e5,
                                         0x1f600, rnd.randrange(0x21, 0x7f)])) + s[i + 1:]
        elif m == 5:                          # several statements
            s = s + "; " + rnd.choice(SIDE_EFFECT_STATEMENTS)
        elif m == 6:                          # swap words
            w = s.split(" ")
            if len(w) > 2:
                i, j = rnd.randrange(len(w)), rnd.randrange(len(w))
                w[i], w[j] = w[j], w[i]
                s = " ".join(w)
        elif m == 7:                          # case
            s = s.lower() if rnd.random() < 0.5 else s.upper()
        else:                                 # wrap in a transaction block
            s = "BEGIN; " + s + "; COMMIT"
    return s.replace("\x00", "")


def catalog_digest(cur):
    cur.execute("SELECT md5(string_agg(c.oid::text || ':' || c.relname || ':' || c.relnatts "
                "|| ':' || c.relkind::text, ',' ORDER BY c.oid)) FROM pg_catalog.pg_class c")
    return cur.fetchone()[0]


def connect(args, user):
    c = psycopg2.connect(host=args.host, port=args.port, dbname=args.dbname, user=user,
                         application_name="fuzz_check",
                         options="-c statement_timeout=10s")
    c.autocommit = True
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dbname", default="fuzz")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--corpus")
    ap.add_argument("--reproducer", default="check_fuzz_reproducer.sql")
    ap.add_argument("--strict", action="store_true")
    args = ap.parse_args()
    rnd = random.Random(args.seed)

    admin = connect(args, "postgres")
    cur = admin.cursor()
    cur.execute("SET migguard.mode = off")
    cur.execute("CREATE TABLE IF NOT EXISTS fuzz_sidefx (at timestamptz)")
    cur.execute("TRUNCATE fuzz_sidefx")
    cur.execute("CREATE OR REPLACE FUNCTION fuzz_boom() RETURNS int LANGUAGE plpgsql VOLATILE "
                "AS $$ BEGIN INSERT INTO public.fuzz_sidefx VALUES (now()); RETURN 1; END $$")
    cur.execute("CREATE OR REPLACE PROCEDURE fuzz_proc() LANGUAGE plpgsql "
                "AS $$ BEGIN INSERT INTO public.fuzz_sidefx VALUES (now()); END $$")
    cur.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'fuzz_user') "
                "THEN CREATE ROLE fuzz_user LOGIN; END IF; END $$")
    cur.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO fuzz_user")
    cur.execute("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO fuzz_user")
    cur.execute("SELECT to_regprocedure('migguard.explain(text)') IS NOT NULL")
    has_explain = cur.fetchone()[0]
    before = catalog_digest(cur)

    sources = corpus(args, rnd)
    conns = {"postgres": connect(args, "postgres"), "fuzz_user": connect(args, "fuzz_user")}
    counts = {"calls": 0, "rows": 0, "errors": 0, "internal_errors": 0,
              "corpus": sum(len(x) for _, x in sources), "explain": 0}
    codes = {}
    internal = []
    crashed = None
    t0 = time.time()
    while time.time() - t0 < args.seconds and crashed is None:
        s = draw(sources, rnd)
        if rnd.random() < 0.6:
            s = mutate(s, rnd)
        user = rnd.choice(list(conns))
        funcs = ["migguard.check"] + (["migguard.explain"] if has_explain else [])
        for fn in funcs:
            c = conns[user]
            counts["calls"] += 1
            if fn == "migguard.explain":
                counts["explain"] += 1
            try:
                cur = c.cursor()
                cur.execute("SELECT * FROM %s(%%s)" % fn, (s,))
                counts["rows"] += len(cur.fetchall())
            except psycopg2.OperationalError as e:
                if c.closed or "server closed the connection" in str(e) or \
                        "terminating connection" in str(e):
                    crashed = (fn, user, s, str(e))
                    break
                counts["errors"] += 1
                codes[e.pgcode] = codes.get(e.pgcode, 0) + 1
            except psycopg2.Error as e:
                counts["errors"] += 1
                codes[e.pgcode] = codes.get(e.pgcode, 0) + 1
                if e.pgcode == "XX000":
                    counts["internal_errors"] += 1
                    if len(internal) < 20:
                        internal.append((fn, user, s[:2000], str(e).strip()))
    status = 0
    out = {"fuzzer": "check", "seed": args.seed, "seconds": round(time.time() - t0, 1),
           "explain_exists": has_explain}
    out.update(counts)
    out["sqlstates"] = dict(sorted(codes.items(), key=lambda kv: -kv[1])[:12])
    if crashed:
        fn, user, s, err = crashed
        with open(args.reproducer, "w") as f:
            f.write("-- as %s: %s\n-- %s\nSELECT * FROM %s(%s);\n"
                    % (user, fn, err.replace("\n", " "), fn, psycopg2.extensions.adapt(s).getquoted().decode()))
        print("CRASH: the server dropped the connection during %s(...) as %s; "
              "reproducer in %s" % (fn, user, args.reproducer), file=sys.stderr)
        status = 1
    for fn, user, s, err in internal:
        print("internal error in %s as %s: %s\n  input: %r" % (fn, user, err, s[:300]),
              file=sys.stderr)
    if internal and args.strict:
        status = 1
    if not crashed:
        cur = connect(args, "postgres").cursor()
        cur.execute("SELECT count(*) FROM public.fuzz_sidefx")
        ran = cur.fetchone()[0]
        out["side_effects"] = ran
        if ran:
            print("FAIL: the side-effect function ran %d times during analysis" % ran,
                  file=sys.stderr)
            status = 1
        if catalog_digest(cur) != before:
            print("FAIL: pg_class changed while only check()/explain() ran", file=sys.stderr)
            out["catalog_changed"] = True
            status = 1
    print(json.dumps(out, sort_keys=True))
    sys.exit(status)


if __name__ == "__main__":
    main()
