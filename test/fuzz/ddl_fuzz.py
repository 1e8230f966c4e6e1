#!/usr/bin/python3
"""DDL fuzzer for migguard.

Random ALTER TABLE (columns, types, NOT NULL, defaults, constraints,
persistence, renames), CREATE/DROP INDEX [CONCURRENTLY], REINDEX
[CONCURRENTLY], VACUUM FULL, CLUSTER, partitions (attach, detach, create),
inheritance (INHERIT / NO INHERIT), LOCK TABLE and TRUNCATE over a small
set of random tables, run by several DDL sessions at once: alone, in
transaction blocks and in savepoints (rolled back or released), some with
a bypass (SET LOCAL migguard.allow), while reader and writer sessions work on
the same tables and a canceller cancels random sessions.

It asserts nothing itself about the outcome of a statement (errors are the
normal case); it counts statements and outcomes and prints them as one JSON
line at the end.  The invariants (no crash, no guarded_ddl left, no lock
left, no invalid index left) are checked by run.sh afterwards.

Usage: ddl_fuzz.py --host SOCKDIR --port N --dbname DB --seconds S [--seed N]
"""

import argparse
import json
import random
import sys
import threading
import time
import traceback

import psycopg2
import psycopg2.extensions

TABLES = ["ft0", "ft1", "ft2", "ft3", "ft4"]
PARENTS = ["fp0", "fp1"]          # partitioned by range (k)
INH = ["fi0"]                      # inheritance parent, children fi0_c*
TYPES = ["int", "bigint", "text", "varchar(20)", "varchar(40)", "numeric(10,2)",
         "numeric(12,2)", "timestamptz", "timestamp", "boolean", "jsonb"]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}

    def add(self, key, n=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + n


def connect(args, app):
    c = psycopg2.connect(host=args.host, port=args.port, dbname=args.dbname,
                         user=args.user, application_name=app,
                         options="-c statement_timeout=10s")
    c.autocommit = True
    return c


def setup(args, rnd):
    c = connect(args, "fuzz_setup")
    cur = c.cursor()
    cur.execute("SET migguard.mode = off")
    for t in TABLES + ["fi0_c0", "fi0_c1"] + INH:
        cur.execute("DROP TABLE IF EXISTS %s, %s_r CASCADE" % (t, t))
    for p in PARENTS:
        cur.execute("DROP TABLE IF EXISTS %s, %s_r CASCADE" % (p, p))
        for j in range(4):    # detached partitions are tables of their own
            cur.execute("DROP TABLE IF EXISTS %s_%d, %s_%d_r CASCADE" % (p, j, p, j))
    cur.execute("DROP VIEW IF EXISTS fview")
    for i, t in enumerate(TABLES):
        cur.execute("CREATE TABLE %s (id int PRIMARY KEY, a int, b text, c int)" % t)
        # one table large (over migguard.large_table_size), the rest small
        rows = 20000 if i == 0 else rnd.choice([0, 10, 500])
        cur.execute("INSERT INTO %s SELECT g, g %% 97, md5(g::text), g %% 7 "
                    "FROM generate_series(1, %d) g" % (t, rows))
    for p in PARENTS:
        cur.execute("CREATE TABLE %s (k int NOT NULL, v text, w int) PARTITION BY RANGE (k)" % p)
        for j in range(3):
            cur.execute("CREATE TABLE %s_%d PARTITION OF %s FOR VALUES FROM (%d) TO (%d)"
                        % (p, j, p, j * 1000, (j + 1) * 1000))
        cur.execute("INSERT INTO %s SELECT g, g::text, g %% 5 FROM generate_series(0, 2999) g" % p)
    for p in INH:
        cur.execute("CREATE TABLE %s (id int, v text)" % p)
        for j in range(2):
            cur.execute("CREATE TABLE %s_c%d (extra int) INHERITS (%s)" % (p, j, p))
            cur.execute("INSERT INTO %s_c%d SELECT g, g::text, g FROM generate_series(1, 200) g" % (p, j))
    cur.execute("ANALYZE")
    c.close()


# the fuzz tables that exist now, under their current names (the canceller
# refreshes it every second); a few statements still name missing ones
existing = []


def rel(rnd):
    """A table name: mostly one that exists, else any, renamed or not."""
    if existing and rnd.random() < 0.8:
        return rnd.choice(existing)
    t = rnd.choice(TABLES + PARENTS + INH + ["fi0_c0", "fi0_c1"])
    return t + "_r" if rnd.random() < 0.5 else t


def col(rnd):
    return rnd.choice(["a", "b", "c", "id", "k", "v", "w", "x1", "x2", "x3", "a_r"])


def idx(rnd):
    return "fidx%d" % rnd.randrange(8)


def ddl(rnd):
    t = rel(rnd)
    plain = rnd.choice(TABLES[1:])   # ft0 stays large
    k = rnd.randrange(100)
    choices = [
        lambda: "ALTER TABLE %s ADD COLUMN %s %s%s" % (
            t, rnd.choice(["x1", "x2", "x3"]), rnd.choice(TYPES),
            rnd.choice(["", " DEFAULT 0", " DEFAULT now()", " DEFAULT random()",
                        " NOT NULL DEFAULT 1", " GENERATED ALWAYS AS IDENTITY"])),
        lambda: "ALTER TABLE %s DROP COLUMN IF EXISTS %s" % (t, rnd.choice(["x1", "x2", "x3"])),
        lambda: "ALTER TABLE %s ALTER COLUMN %s TYPE %s%s" % (
            t, col(rnd), rnd.choice(TYPES),
            rnd.choice(["", " USING %s::text::int" % col(rnd)])),
        lambda: "ALTER TABLE %s ALTER COLUMN %s %s NOT NULL" % (t, col(rnd), rnd.choice(["SET", "DROP"])),
        lambda: "ALTER TABLE %s ALTER COLUMN %s SET DEFAULT %d" % (t, col(rnd), k),
        lambda: "ALTER TABLE %s ADD CONSTRAINT fck%d CHECK (%s IS NOT NULL)%s" % (
            t, k % 4, col(rnd), rnd.choice(["", " NOT VALID"])),
        lambda: "ALTER TABLE %s VALIDATE CONSTRAINT fck%d" % (t, k % 4),
        lambda: "ALTER TABLE %s DROP CONSTRAINT IF EXISTS fck%d" % (t, k % 4),
        lambda: "ALTER TABLE %s ADD CONSTRAINT ffk%d FOREIGN KEY (%s) REFERENCES %s (id)%s" % (
            t, k % 3, col(rnd), rnd.choice(TABLES), rnd.choice(["", " NOT VALID"])),
        lambda: "ALTER TABLE %s DROP CONSTRAINT IF EXISTS ffk%d" % (t, k % 3),
        lambda: "ALTER TABLE %s ADD CONSTRAINT fuq%d UNIQUE (%s)" % (t, k % 3, col(rnd)),
        lambda: "ALTER TABLE %s ADD CONSTRAINT fuq%d UNIQUE USING INDEX %s" % (t, k % 3, idx(rnd)),
        lambda: "ALTER TABLE %s DROP CONSTRAINT IF EXISTS fuq%d" % (t, k % 3),
        lambda: "ALTER TABLE %s SET %s" % (t, rnd.choice(["LOGGED", "UNLOGGED"])),
        lambda: "ALTER TABLE %s SET (fillfactor = %d)" % (t, rnd.choice([70, 90, 100])),
        lambda: "ALTER TABLE %s RENAME TO %s" % (
            (t, t[:-2]) if t.endswith("_r") else (t, t + "_r")),
        lambda: "ALTER TABLE %s RENAME COLUMN %s TO %s" % (
            t, *rnd.choice([("a", "a_r"), ("a_r", "a")])),
        lambda: "CREATE %sINDEX %s IF NOT EXISTS %s ON %s (%s)%s" % (
            rnd.choice(["", "", "UNIQUE "]),
            "CONCURRENTLY" if rnd.random() < 0.6 else "",
            idx(rnd), t, col(rnd), rnd.choice(["", "", " WHERE %s > 3" % col(rnd)])),
        lambda: "DROP INDEX %s IF EXISTS %s" % (
            rnd.choice(["CONCURRENTLY", ""]), idx(rnd)),
        lambda: "REINDEX %s %s%s" % (
            rnd.choice(["TABLE", "INDEX"]),
            rnd.choice(["CONCURRENTLY ", ""]), rnd.choice([t, idx(rnd)])),
        lambda: "VACUUM FULL %s" % t,
        lambda: "VACUUM %s" % t,
        lambda: "ANALYZE %s" % t,
        lambda: "CLUSTER %s USING %s" % (t, rnd.choice([idx(rnd), t + "_pkey"])),
        lambda: "CLUSTER %s" % t,
        lambda: "TRUNCATE %s" % plain,
        lambda: "LOCK TABLE %s IN %s MODE" % (t, rnd.choice(
            ["ACCESS EXCLUSIVE", "SHARE", "SHARE ROW EXCLUSIVE", "ROW EXCLUSIVE"])),
        lambda: "ALTER TABLE %s DETACH PARTITION %s_%d%s" % (
            p := rnd.choice(PARENTS), p, rnd.randrange(4), rnd.choice(["", "", " CONCURRENTLY"])),
        lambda: "ALTER TABLE %s ATTACH PARTITION %s_%d FOR VALUES FROM (%d) TO (%d)" % (
            p := rnd.choice(PARENTS), p, j := rnd.randrange(4), j * 1000, (j + 1) * 1000),
        lambda: "CREATE TABLE IF NOT EXISTS %s_%d PARTITION OF %s FOR VALUES FROM (%d) TO (%d)" % (
            p := rnd.choice(PARENTS), j := rnd.randrange(4), p, j * 1000, (j + 1) * 1000),
        lambda: "CREATE TABLE IF NOT EXISTS %s_%d (LIKE %s)" % (
            p := rnd.choice(PARENTS), rnd.randrange(4), p),
        lambda: "DROP TABLE IF EXISTS %s_3" % rnd.choice(PARENTS),
        lambda: "CREATE INDEX IF NOT EXISTS %s ON %s (k)" % (idx(rnd), rnd.choice(PARENTS)),
        lambda: "ALTER TABLE fi0_c%d %sINHERIT fi0" % (rnd.randrange(2), rnd.choice(["", "NO "])),
        lambda: "ALTER TABLE %s ADD PRIMARY KEY (%s)" % (t, col(rnd)),
        lambda: "ALTER TABLE %s REPLICA IDENTITY %s" % (t, rnd.choice(["FULL", "DEFAULT"])),
        lambda: "CREATE OR REPLACE VIEW fview AS SELECT * FROM %s" % plain,
        lambda: "DROP VIEW IF EXISTS fview",
        lambda: "SELECT pg_sleep(0.%d)" % rnd.randrange(3),
    ]
    sql = rnd.choice(choices)()
    if rnd.random() < 0.1:
        # a long non-ASCII comment after the first word: the statement text
        # migguard keeps in shared memory is cut inside it
        first, _, rest = sql.partition(" ")
        sql = "%s /* %s */ %s" % (first, "".join(
            rnd.choice("äöüßéè日本語€") for _ in range(rnd.randrange(50, 400))), rest)
    return sql


def reader_sql(rnd):
    t = rel(rnd)
    return rnd.choice([
        "SELECT count(*) FROM %s" % t,
        "SELECT * FROM %s WHERE %s = %d LIMIT 5" % (t, col(rnd), rnd.randrange(50)),
        "SELECT * FROM migguard.guarded_ddl",
        "SELECT * FROM migguard.lock_queue",
    ])


def writer_sql(rnd):
    plain = [x for x in existing if x.startswith("ft")]
    t = rnd.choice(plain) if plain else rnd.choice(TABLES)
    p = rnd.choice(PARENTS)
    n = rnd.randrange(1, 30000)
    return rnd.choice([
        "INSERT INTO %s (id, a, b, c) VALUES (%d, %d, 'w', 1) ON CONFLICT DO NOTHING" % (t, n, n % 97),
        "UPDATE %s SET a = a + 1 WHERE id = %d" % (t, n),
        "DELETE FROM %s WHERE id = %d" % (t, n),
        "INSERT INTO %s (k, v, w) VALUES (%d, 'w', 1)" % (p, n % 3000),
        "UPDATE %s SET w = w + 1 WHERE k = %d" % (p, n % 3000),
    ])


class Worker(threading.Thread):
    def __init__(self, args, kind, n, stop, stats):
        super().__init__(daemon=True)
        self.args, self.kind, self.n, self.stop, self.stats = args, kind, n, stop, stats
        self.rnd = random.Random(args.seed * 1000 + hash(kind) % 1000 + n)
        self.conn = None
        self.pid = None
        self.last_sql = ""

    def run(self):
        while not self.stop.is_set():
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = connect(self.args, "fuzz_%s_%d" % (self.kind, self.n))
                    cur = self.conn.cursor()
                    cur.execute("SELECT pg_backend_pid()")
                    self.pid = cur.fetchone()[0]
                    self.stats.add("connections")
                self.step()
            except psycopg2.OperationalError as e:
                # the session is gone (terminated by the watcher, or a
                # server-side error that closed it): count it, reconnect
                self.stats.add("%s:disconnected" % self.kind)
                self.note(e)
                try:
                    self.conn.close()
                except Exception:
                    pass
                self.conn = None
                time.sleep(0.1)
            except Exception as e:
                self.stats.add("%s:client_exception" % self.kind)
                self.note(e)
                traceback.print_exc()
                time.sleep(0.1)
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass

    def note(self, e):
        code = getattr(e, "pgcode", None) or type(e).__name__
        self.stats.add("sqlstate:%s" % code)
        if code == "XX000":
            print("internal error: %s  -- in: %s" % (str(e).strip(), self.last_sql[:300]),
                  file=sys.stderr)

    def execute(self, cur, sql):
        self.last_sql = sql
        self.stats.add("statements")
        try:
            cur.execute(sql)
            self.stats.add("ok")
            return True
        except psycopg2.OperationalError as e:
            if self.conn.closed:
                raise
            self.note(e)
            return False
        except psycopg2.Error as e:
            self.note(e)
            return False

    def step(self):
        rnd = self.rnd
        cur = self.conn.cursor()
        if self.kind == "reader":
            self.execute(cur, reader_sql(rnd))
            time.sleep(rnd.random() * 0.005)
            return
        if self.kind == "writer":
            self.execute(cur, writer_sql(rnd))
            time.sleep(rnd.random() * 0.005)
            return
        # DDL: autocommit, or a transaction block with savepoints
        shape = rnd.random()
        if shape < 0.45:
            self.stats.add("ddl:autocommit")
            self.execute(cur, ddl(rnd))
            return
        self.stats.add("ddl:block")
        self.conn.autocommit = False
        try:
            if rnd.random() < 0.3:
                self.stats.add("ddl:bypass")
                self.execute(cur, "SET LOCAL migguard.allow = '%s'" % self.args.all_rules)
            failed = False
            for _ in range(rnd.randrange(1, 5)):
                if rnd.random() < 0.3:
                    self.execute(cur, "SAVEPOINT s")
                    ok = self.execute(cur, ddl(rnd))
                    # after an error only ROLLBACK TO works
                    if not ok or rnd.random() < 0.5:
                        self.execute(cur, "ROLLBACK TO SAVEPOINT s")
                        self.stats.add("ddl:savepoint_rollback")
                    else:
                        self.execute(cur, "RELEASE SAVEPOINT s")
                else:
                    if not self.execute(cur, ddl(rnd)):
                        failed = True
                        break
                if rnd.random() < 0.1:
                    # idle in transaction, now and then long enough for
                    # migguard.idle_blocker_age
                    time.sleep(1.5 if rnd.random() < 0.1 else rnd.random() * 0.3)
            if failed or rnd.random() < 0.3:
                self.conn.rollback()
                self.stats.add("ddl:rollback")
            else:
                self.conn.commit()
                self.stats.add("ddl:commit")
        except psycopg2.Error as e:
            self.note(e)
            if not self.conn.closed:
                self.conn.rollback()
        finally:
            if not self.conn.closed:
                self.conn.autocommit = True


def canceller(args, workers, stop, stats):
    rnd = random.Random(args.seed + 7)
    c = connect(args, "fuzz_canceller")
    cur = c.cursor()
    last = 0
    while not stop.is_set():
        time.sleep(rnd.random() * 0.5)
        if time.time() - last > 1:
            last = time.time()
            try:
                cur.execute("SELECT relname FROM pg_catalog.pg_class WHERE relnamespace = "
                            "'public'::regnamespace AND relkind IN ('r', 'p') "
                            "AND relname ~ '^f[tpi][0-9]'")
                existing[:] = [r[0] for r in cur.fetchall()]
            except psycopg2.Error:
                pass
        w = rnd.choice(workers)
        try:
            if w.conn is not None and not w.conn.closed:
                if rnd.random() < 0.5:
                    w.conn.cancel()         # the client's cancel request
                else:
                    cur.execute("SELECT pg_cancel_backend(%s)", (w.pid,))
                stats.add("cancels")
        except Exception:
            pass
    c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dbname", default="fuzz")
    ap.add_argument("--user", default="postgres")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--ddl", type=int, default=3)
    ap.add_argument("--readers", type=int, default=2)
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument("--no-setup", action="store_true")
    args = ap.parse_args()

    rnd = random.Random(args.seed)
    if not args.no_setup:
        setup(args, rnd)
    c = connect(args, "fuzz_main")
    cur = c.cursor()
    cur.execute("SELECT string_agg(name, ',') FROM migguard.rules()")
    args.all_rules = cur.fetchone()[0]
    c.close()

    stats = Stats()
    stop = threading.Event()
    workers = ([Worker(args, "ddl", i, stop, stats) for i in range(args.ddl)] +
               [Worker(args, "reader", i, stop, stats) for i in range(args.readers)] +
               [Worker(args, "writer", i, stop, stats) for i in range(args.writers)])
    t0 = time.time()
    for w in workers:
        w.start()
    ct = threading.Thread(target=canceller, args=(args, workers, stop, stats), daemon=True)
    ct.start()
    time.sleep(args.seconds)
    stop.set()
    for w in workers:
        w.join(30)
    ct.join(10)
    stuck = [w.name for w in workers if w.is_alive()]
    out = {"fuzzer": "ddl", "seed": args.seed, "seconds": round(time.time() - t0, 1),
           "stuck_threads": len(stuck)}
    out.update(sorted(stats.counts.items()))
    print(json.dumps(out, sort_keys=True))
    sys.exit(1 if stuck else 0)


if __name__ == "__main__":
    main()
