# The watcher and idle-in-transaction blockers: left alone by default,
# terminated when migguard.terminate_idle_blockers allows it.  And no guard
# slot outlives its statement, however many statements are cancelled.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('blockers');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'migguard'
max_prepared_transactions = 2
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION migguard;
CREATE TABLE t (id int);
INSERT INTO t SELECT generate_series(1, 100);
});

# an idle-in-transaction session holding a lock on t
sub start_idle_blocker
{
	my $psql = $node->background_psql('postgres');
	$psql->query_safe('BEGIN');
	$psql->query_safe('SELECT count(*) FROM t');
	my $pid = $psql->query_safe('SELECT pg_backend_pid()');
	return ($psql, $pid);
}

# Off (the default): the DDL is left to its lock_timeout, the blocker lives.
my ($idle, $idle_pid) = start_idle_blocker();
my ($ret, $stdout, $stderr) = $node->psql('postgres', q{
SET lock_timeout = '1s';
SET migguard.lock_retries = 0;
SET migguard.wait_outside_queue = off;
ALTER TABLE t ADD COLUMN c1 int;
});
like($stderr, qr/canceling statement due to lock timeout/,
	'without the opt-in the DDL times out behind an idle blocker');
is($node->safe_psql('postgres',
		"SELECT state FROM pg_stat_activity WHERE pid = $idle_pid"),
	'idle in transaction', 'the idle blocker was not touched');

# On: the blocker is terminated and the DDL goes through, whether it waits
# in the lock queue or outside it.
$node->safe_psql('postgres', q{
ALTER SYSTEM SET migguard.terminate_idle_blockers = on;
ALTER SYSTEM SET migguard.idle_blocker_age = '100ms';
SELECT pg_reload_conf();
});
$node->poll_query_until('postgres',
	q{SELECT worker_reloaded IS NOT NULL FROM migguard.status});
for my $outside ('off', 'on')
{
	($idle, $idle_pid) = start_idle_blocker() if $outside eq 'on';
	($ret, $stdout, $stderr) = $node->psql('postgres', qq{
SET lock_timeout = '20s';
SET migguard.lock_retries = 0;
SET migguard.wait_outside_queue = $outside;
ALTER TABLE t ADD COLUMN c2_$outside int;
});
	is($ret, 0, "with the opt-in the DDL succeeds (wait_outside_queue $outside)")
	  or diag($stderr);
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $idle_pid"),
		"the idle blocker was terminated (wait_outside_queue $outside)");
}
like(
	$node->safe_psql('postgres',
		q{SELECT detail FROM migguard.events WHERE action = 'terminate'}),
	qr/terminated pid $idle_pid .*idle in transaction/,
	'the termination is an event naming the blocker');
$idle->quit;

# A blocker that is not idle long enough is left alone, even when opted in.
$node->safe_psql('postgres', q{
ALTER SYSTEM SET migguard.idle_blocker_age = '1h';
SELECT pg_reload_conf();
});
$node->poll_query_until('postgres',
	q{SELECT current_setting('migguard.idle_blocker_age') = '1h'});
($idle, $idle_pid) = start_idle_blocker();
($ret, $stdout, $stderr) = $node->psql('postgres', q{
SET lock_timeout = '1s';
SET migguard.lock_retries = 0;
SET migguard.wait_outside_queue = off;
ALTER TABLE t ADD COLUMN c3 int;
});
like($stderr, qr/lock timeout/, 'a young idle blocker makes the DDL time out');
is($node->safe_psql('postgres',
		"SELECT state FROM pg_stat_activity WHERE pid = $idle_pid"),
	'idle in transaction', 'and is not terminated');
$idle->quit;

# 10,000 guarded statements cancelled while waiting for their lock: a
# prepared transaction holds the lock, statement_timeout cancels each.
$node->safe_psql('postgres', q{
BEGIN; LOCK TABLE t IN ACCESS SHARE MODE; PREPARE TRANSACTION 'holder';
});
# Retries that never get the lock: the last failure says how many tries.
($ret, $stdout, $stderr) = $node->psql('postgres', q{
SET lock_timeout = '100ms';
SET migguard.wait_outside_queue = off;
SET migguard.lock_retries = 2;
SET migguard.retry_delay = '10ms';
ALTER TABLE t ADD COLUMN c5 int;
});
like($stderr, qr/ERROR:  canceling statement due to lock timeout\nDETAIL:  Gave up after 3 attempts\./,
	'after the last retry the error reports the attempts');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM migguard.events WHERE action = 'retry' AND statement = 'ALTER TABLE t ADD COLUMN c5 int'}),
	'2', 'each retry is an event');

my $script = "SET statement_timeout = '1ms';\n"
  . ("ALTER TABLE t ADD COLUMN c4 int;\n" x 10000)
  . "RESET statement_timeout;\n"
  . "SELECT count(*) FROM migguard.guarded_ddl;\n";
($ret, $stdout, $stderr) =
  $node->psql('postgres', $script, on_error_stop => 0);
# (with a 1 ms timeout, PostgreSQL's own SIGINT for one statement's timeout
# now and then lands on the next statement, which then reports "user request")
my $cancelled = () =
  $stderr =~ /canceling statement due to (?:statement timeout|user request)/g;
is($cancelled, 10000, '10,000 statements were cancelled');
is($stdout, '0', 'the cancelling session holds no guard slot afterwards');
$node->safe_psql('postgres', q{COMMIT PREPARED 'holder'});
is($node->safe_psql('postgres', q{SELECT count(*) FROM migguard.guarded_ddl}),
	'0', 'no guard slot is left in shared memory');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM migguard.events WHERE action = 'cancel'}),
	'0', 'statement timeouts are not mistaken for watcher cancels');

$node->stop;
done_testing();
