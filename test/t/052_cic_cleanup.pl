# The invalid-index cleanup: only in enforce mode; it gives way to users
# (a lock conflict or a would-be deadlock ends its try, never a user's
# statement) and tries again later; it leaves alone an invalid index that
# is now a partition of a partitioned index; and its queue entries are
# never lost: retried after no worker could start, forgotten with an event
# when their database is dropped.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cleanup');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'migguard'
max_worker_processes = 4
max_parallel_workers = 4
migguard.cic_wait_timeout = '5s'
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION migguard;
CREATE TABLE t (id int);
INSERT INTO t VALUES (1), (1);
CREATE TABLE p (id int) PARTITION BY RANGE (id);
CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100);
INSERT INTO p VALUES (1), (1);
CREATE UNIQUE INDEX p_key ON ONLY p (id);
CREATE DATABASE other;
CREATE DATABASE gone;
});
for my $db ('other', 'gone')
{
	$node->safe_psql($db, q{
CREATE EXTENSION migguard;
CREATE TABLE t (id int);
INSERT INTO t VALUES (1), (1);
});
}

sub exists_index
{
	my ($name, $db) = @_;
	return $node->safe_psql($db // 'postgres',
		"SELECT count(*) FROM pg_class WHERE relname = '$name'");
}

sub wait_event
{
	my ($action, $relation_like) = @_;
	return $node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM migguard.events WHERE action = '$action' AND detail LIKE '$relation_like'");
}

# log mode observes and changes nothing: the invalid index stays, reported.
$node->safe_psql('postgres',
	q{ALTER SYSTEM SET migguard.mode = 'log'; SELECT pg_reload_conf()});
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	'CREATE UNIQUE INDEX CONCURRENTLY t_log_key ON t (id)');
like($stderr, qr/could not create unique index "t_log_key"/, 'a build fails in log mode');
my $oid = $node->safe_psql('postgres', q{SELECT 't_log_key'::regclass::oid});
ok(wait_event('invalid_index', "%invalid index OID $oid %in log mode migguard leaves it"),
	'the invalid index it left is reported');
is(exists_index('t_log_key'), '1', 'and not dropped in log mode');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'migguard cleanup%'}),
	'0', 'no cleanup worker was started for it');

# warn mode, like enforce with migguard.cic_cleanup off, reports it by name
($ret, $stdout, $stderr) = $node->psql('postgres',
	q{SET migguard.mode = warn; CREATE UNIQUE INDEX CONCURRENTLY t_warn_key ON t (id)});
ok(wait_event('invalid_index', '%public.t_warn_key%only in enforce mode%'),
	'in warn mode the invalid index is reported by name');
is(exists_index('t_warn_key'), '1', 'and not dropped');
$node->safe_psql('postgres', q{
SET migguard.mode = off;
DROP INDEX t_log_key, t_warn_key;
ALTER SYSTEM RESET migguard.mode; SELECT pg_reload_conf();
});

# A user's lock makes the cleanup give way; it drops the index later.
my $user = $node->background_psql('postgres', on_error_stop => 0);
# holding ACCESS SHARE, no snapshot: the build goes on, the cleanup's DROP
# INDEX CONCURRENTLY would wait for this transaction
$user->query_safe('BEGIN; SELECT count(*) FROM t');
($ret, $stdout, $stderr) = $node->psql('postgres',
	'CREATE UNIQUE INDEX CONCURRENTLY t_key ON t (id)');
like($stderr, qr/could not create unique index "t_key"/, 'a unique build fails');
$oid = $node->safe_psql('postgres', q{SELECT 't_key'::regclass::oid});
ok(wait_event('cleanup_retry', "index OID $oid: gave way%"),
	'the cleanup, waiting for the user\'s transaction, gives way');
is(exists_index('t_key'), '1', 'the invalid index is still there meanwhile');
# the user's transaction takes a lock the cleanup held while it waited
my $r = $user->query_safe(
	q{ALTER TABLE t ADD COLUMN c int; SELECT 'altered'});
like($r, qr/altered/, 'the user\'s ALTER TABLE goes through, no deadlock');
$user->query_safe('COMMIT');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM pg_class WHERE relname = 't_key'}),
	'after the user committed, a later try drops the invalid index');
ok(wait_event('cleanup', 'dropped invalid index public.t_key%'),
	'the cleanup is an event');

# An invalid index the user attaches to a partitioned index meanwhile is
# left alone: it cannot be dropped on its own.
$user->query_safe('BEGIN; SELECT count(*) FROM p1');
($ret, $stdout, $stderr) = $node->psql('postgres',
	'CREATE UNIQUE INDEX CONCURRENTLY p1_key ON p1 (id)');
like($stderr, qr/could not create unique index "p1_key"/, 'a build on a partition fails');
$oid = $node->safe_psql('postgres', q{SELECT 'p1_key'::regclass::oid});
ok(wait_event('cleanup_retry', "index OID $oid: gave way%"),
	'the cleanup gives way to the user');
$r = $user->query_safe(
	q{ALTER INDEX p_key ATTACH PARTITION p1_key; SELECT 'attached'});
like($r, qr/attached/, 'the user attaches the invalid index, no deadlock');
$user->query_safe('COMMIT');
ok(wait_event('cleanup_skipped', '%p1_key%partition of a partitioned index%'),
	'the cleanup leaves the attached index alone, saying why');
is(exists_index('p1_key'), '1', 'and the index stays');
ok(!$node->log_contains(qr/cannot drop index|cleanup" \(PID \d+\) exited with exit code 1/),
	'no cleanup worker failed');

# No free worker slot: the entries wait, and are not lost.  Two parallel
# workers fill the slots the watcher and the logical replication launcher
# leave.
my @fillers;
for my $i (1 .. 2)
{
	my $f = $node->background_psql('postgres', on_error_stop => 0);
	# (debug_parallel_query was force_parallel_mode before 16)
	$f->query_safe($node->safe_psql('postgres', 'SHOW server_version_num') >= 160000
		? 'SET debug_parallel_query = on'
		: 'SET force_parallel_mode = on');
	$f->query_until(qr/started/, q{\echo started
SELECT pg_sleep(600);
});
	push @fillers, $f;
}
$node->poll_query_until('postgres',
	q{SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'parallel worker'})
  or die 'the parallel workers did not start';
my $log_offset = -s $node->logfile;
for my $db ('other', 'gone')
{
	($ret, $stdout, $stderr) = $node->psql($db,
		'CREATE UNIQUE INDEX CONCURRENTLY t_key ON t (id)');
	like($stderr, qr/could not create unique index "t_key"/, "a build in $db fails");
}
ok($node->wait_for_log(qr/could not start its cleanup launcher/, $log_offset),
	'no cleanup could start');
is(exists_index('t_key', 'other'), '1', 'the invalid index stays meanwhile');
$node->safe_psql('postgres', 'DROP DATABASE gone');
$node->safe_psql('postgres',
	q{SELECT pg_cancel_backend(pid) FROM pg_stat_activity
	  WHERE query = 'SELECT pg_sleep(600);' AND backend_type = 'client backend'});
$_->quit for @fillers;
$node->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'parallel worker'})
  or die 'the parallel workers did not end';

# The next concurrent build anywhere starts the cleanup again.
$node->safe_psql('postgres', 'CREATE INDEX CONCURRENTLY t_id_idx ON t (id)');
ok($node->poll_query_until('other',
		q{SELECT count(*) = 0 FROM pg_class WHERE relname = 't_key'}),
	'once a slot is free, the waiting entry is cleaned up');
ok(wait_event('cleanup_skipped', '%its database was dropped%'),
	'the entry of the dropped database is forgotten, with an event');
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type LIKE 'migguard cleanup%'}),
	'and the launcher exits once the queue is empty');

$user->quit;
$node->stop;
done_testing();
