# Supervised CREATE INDEX CONCURRENTLY and REINDEX CONCURRENTLY: the wait
# before the build, the deadline on its wait phases, the cleanup of the
# invalid index a failed build leaves behind.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('cic');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'migguard'
migguard.cic_wait_timeout = '1s'
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION migguard;
CREATE TABLE t (id int, dup int);
INSERT INTO t SELECT g, g % 10 FROM generate_series(1, 200) g;
-- an index expression that takes a while, so a build lasts about 2 s
CREATE FUNCTION slow(int) RETURNS int LANGUAGE plpgsql IMMUTABLE
  AS $$ BEGIN PERFORM pg_sleep(0.01); RETURN $1; END $$;
CREATE DATABASE other;
});

sub index_count
{
	my ($name) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_class WHERE relname LIKE '$name'");
}

# A transaction holding a snapshot in the same database: the build would
# wait for it, so it fails within the deadline, naming it, creating nothing.
my $blocker = $node->background_psql('postgres');
$blocker->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
my $blocker_pid = $blocker->query_safe('SELECT pg_backend_pid() FROM (SELECT txid_current()) x');
my $start = time();
my ($ret, $stdout, $stderr) =
  $node->psql('postgres', 'CREATE INDEX CONCURRENTLY t_id_idx ON t (id)');
my $elapsed = time() - $start;
like($stderr, qr/ERROR:  CREATE INDEX CONCURRENTLY on "t" cannot start/,
	'CIC behind an open snapshot fails before it starts');
like($stderr, qr/pid $blocker_pid \(user \w+, application "[^"]*", idle in transaction/,
	'the error names the blocking session');
like($stderr, qr/No index was created/, 'and says nothing was created');
ok($elapsed < 10, 'within the deadline (took ' . sprintf('%.1f', $elapsed) . ' s)');
is(index_count('t_id_idx'), '0', 'no index, valid or invalid, is left');
like($node->safe_psql('postgres',
		q{SELECT detail FROM migguard.events WHERE action = 'cic_blocked'}),
	qr/pid $blocker_pid/, 'the refusal is an event');

# REINDEX CONCURRENTLY waits for the same transactions.
$blocker->query_safe('COMMIT');
$node->safe_psql('postgres', 'CREATE INDEX CONCURRENTLY t_dup_idx ON t (dup)');
$blocker->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$blocker->query_safe('SELECT txid_current()');
($ret, $stdout, $stderr) =
  $node->psql('postgres', 'REINDEX INDEX CONCURRENTLY t_dup_idx');
like($stderr, qr/REINDEX CONCURRENTLY on "t" cannot start.*pid $blocker_pid/s,
	'REINDEX CONCURRENTLY behind an open snapshot fails, naming it');
is(index_count('t_dup_idx_cc%'), '0', 'and leaves no _ccnew index');
$blocker->query_safe('COMMIT');

# The same transaction in another database does not count.
my $elsewhere = $node->background_psql('other');
$elsewhere->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$elsewhere->query_safe('SELECT txid_current()');
($ret, $stdout, $stderr) =
  $node->psql('postgres', 'CREATE INDEX CONCURRENTLY t_id_idx ON t (id)');
is($ret, 0, 'a transaction in another database does not block the build')
  or diag($stderr);
$elsewhere->query_safe('COMMIT');
$elsewhere->quit;

# The blocker ends during the wait: the build goes on.
$blocker->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$blocker->query_safe('SELECT txid_current()');
my $builder = $node->background_psql('postgres', on_error_stop => 0);
$builder->query_safe('SET migguard.cic_wait_timeout = 30000');
$builder->query_until(qr/started/, q{\echo started
CREATE INDEX CONCURRENTLY t_id2_idx ON t (id);
\echo done
});
$node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY t_id2_idx%' AND wait_event = 'Extension'})
  or die 'the build did not start waiting';
$blocker->query_safe('COMMIT');
$builder->query_until(qr/done/, '');
is($node->safe_psql('postgres',
		q{SELECT indisvalid FROM pg_index WHERE indexrelid = 't_id2_idx'::regclass}),
	't', 'once the blocker ended, the build completed and its index is valid');

# A unique violation leaves an invalid index: a worker drops it.
($ret, $stdout, $stderr) =
  $node->psql('postgres', 'CREATE UNIQUE INDEX CONCURRENTLY t_dup_key ON t (dup)');
like($stderr, qr/could not create unique index "t_dup_key"/, 'the unique build fails');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM pg_class WHERE relname = 't_dup_key'}),
	'the invalid index it left is dropped');
like($node->safe_psql('postgres',
		q{SELECT detail FROM migguard.events WHERE action = 'cleanup' AND relation = 'public.t_dup_key'}),
	qr/dropped invalid index public.t_dup_key/, 'the cleanup is an event');

# Cleanup off: the invalid index stays, and is reported.
($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SET migguard.cic_cleanup = off;
	  CREATE UNIQUE INDEX CONCURRENTLY t_dup_key ON t (dup)});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM migguard.events WHERE action = 'invalid_index' AND relation = 'public.t_dup_key'}),
	'with cleanup off the invalid index is reported');
is($node->safe_psql('postgres',
		q{SELECT indisvalid FROM pg_index WHERE indexrelid = 't_dup_key'::regclass}),
	'f', 'and stays');

# IF NOT EXISTS naming that invalid index would silently do nothing.
($ret, $stdout, $stderr) = $node->psql('postgres',
	'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_dup_key ON t (dup)');
like($stderr, qr/index "t_dup_key" exists but is invalid/,
	'IF NOT EXISTS on an invalid index is refused in enforce mode');
($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SET migguard.mode = warn;
	  CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_dup_key ON t (dup)});
like($stderr, qr/WARNING:  index "t_dup_key" exists but is invalid/,
	'and warned about in warn mode');
$node->safe_psql('postgres', 'DROP INDEX t_dup_key');

# During the build: a snapshot taken while it runs makes its last wait
# phase wait; the watcher cancels it after the deadline, naming the
# session, and the invalid index is dropped.
$builder->query_safe('RESET migguard.cic_wait_timeout');
$builder->query_until(qr/started/, q{\echo started
CREATE INDEX CONCURRENTLY t_slow_idx ON t (slow(id));
\echo done
});
$node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM pg_stat_progress_create_index WHERE phase LIKE 'building index%'})
  or die 'the build did not start';
$blocker->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$blocker_pid = $blocker->query_safe('SELECT pg_backend_pid() FROM (SELECT txid_current()) x');
$builder->query_until(qr/done/, '');
like($builder->{stderr}, qr/canceling CREATE INDEX CONCURRENTLY on public.t: it waited too long/,
	'the watcher cancels a build stuck in a wait phase');
like($node->safe_psql('postgres',
		q{SELECT detail FROM migguard.events WHERE action = 'cancel' ORDER BY event_time DESC LIMIT 1}),
	qr/waiting for old snapshots.*pid $blocker_pid/, 'the event names the phase and the blocker');
$blocker->query_safe('COMMIT');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM pg_class WHERE relname = 't_slow_idx'}),
	'the index the cancelled build left is dropped');

# REINDEX CONCURRENTLY cancelled during its build: its _ccnew copy is dropped.
$node->safe_psql('postgres', 'CREATE INDEX t_slow2_idx ON t (slow(id))');
$builder->query_until(qr/started/, q{\echo started
REINDEX INDEX CONCURRENTLY t_slow2_idx;
\echo done
});
$node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM pg_stat_progress_create_index WHERE phase LIKE 'building index%'})
  or die 'the rebuild did not start';
$blocker->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
$blocker->query_safe('SELECT txid_current()');
$builder->query_until(qr/done/, '');
like($builder->{stderr}, qr/canceling REINDEX CONCURRENTLY on public.t/,
	'a REINDEX CONCURRENTLY stuck in a wait phase is cancelled');
$blocker->query_safe('COMMIT');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM pg_class WHERE relname LIKE 't_slow2_idx_cc%'}),
	'its _ccnew index is dropped');
is($node->safe_psql('postgres',
		q{SELECT indisvalid FROM pg_index WHERE indexrelid = 't_slow2_idx'::regclass}),
	't', 'and the original index is untouched');

$builder->quit;
$blocker->quit;
$node->stop;
done_testing();
