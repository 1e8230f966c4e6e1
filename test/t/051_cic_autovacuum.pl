# A concurrent index build on a table that autovacuum is busy with succeeds,
# as it does without migguard: the server cancels a (non-wraparound)
# autovacuum worker once a lock request has queued behind it for
# deadlock_timeout, and migguard's wait before the build, which polls
# instead of queueing, leaves that worker to the build's own lock request.
# A manual VACUUM is not cancelled by the server, so it still counts.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cic_autovacuum');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'migguard'
autovacuum = on
autovacuum_naptime = 1s
deadlock_timeout = 200ms
migguard.cic_wait_timeout = '3s'
log_autovacuum_min_duration = 0
});
$node->start;

# A table autovacuum takes minutes over: every page it reads sleeps.
$node->safe_psql('postgres', q{
CREATE EXTENSION migguard;
CREATE TABLE av (id int, pad text) WITH (
	autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1,
	autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0,
	autovacuum_analyze_threshold = 1000000000);
INSERT INTO av SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g;
DELETE FROM av WHERE id % 2 = 0;
});

my $busy = q{SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'autovacuum worker'
	AND query LIKE 'autovacuum: VACUUM public.av%'
	AND query NOT LIKE '%wraparound%'};
$node->poll_query_until('postgres', "SELECT count(*) > 0 FROM ($busy) x")
  or die 'autovacuum did not start on the table';
my $av_pid = $node->safe_psql('postgres', $busy);
ok($av_pid, "autovacuum (pid $av_pid) is busy with the table");

my $log_offset = -s $node->logfile;
my ($ret, $stdout, $stderr) =
  $node->psql('postgres', 'CREATE INDEX CONCURRENTLY av_id_idx ON av (id)');
is($ret, 0, 'CREATE INDEX CONCURRENTLY on the table succeeds') or diag($stderr);
is($node->safe_psql('postgres',
		q{SELECT indisvalid FROM pg_index WHERE indexrelid = 'av_id_idx'::regclass}),
	't', 'and its index is valid');
ok($node->log_contains(qr/canceling autovacuum task/, $log_offset),
	'the server made autovacuum give way, as it does without migguard');

# REINDEX CONCURRENTLY alike, once autovacuum is back on the table.
$node->safe_psql('postgres', 'DELETE FROM av WHERE id % 3 = 0');
$node->poll_query_until('postgres', "SELECT count(*) > 0 FROM ($busy) x")
  or die 'autovacuum did not come back to the table';
($ret, $stdout, $stderr) =
  $node->psql('postgres', 'REINDEX INDEX CONCURRENTLY av_id_idx');
is($ret, 0, 'REINDEX INDEX CONCURRENTLY under autovacuum succeeds') or diag($stderr);

# A manual VACUUM of the table is not cancelled by the server: the build
# would wait for it, and the wait before the build names it.
$node->safe_psql('postgres', q{
ALTER TABLE av SET (autovacuum_enabled = off);
SELECT pg_cancel_backend(pid) FROM pg_stat_activity
	WHERE backend_type = 'autovacuum worker';
});
$node->safe_psql('postgres', 'DELETE FROM av WHERE id % 5 = 0');
my $vacuum = $node->background_psql('postgres', on_error_stop => 0);
my $vacuum_pid = $vacuum->query_safe('SELECT pg_backend_pid()');
$vacuum->query_safe('SET vacuum_cost_delay = 100; SET vacuum_cost_limit = 1');
$vacuum->query_until(qr/started/, q{\echo started
VACUUM av;
});
$node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pg_stat_progress_vacuum WHERE pid = $vacuum_pid")
  or die 'the manual VACUUM did not start';
($ret, $stdout, $stderr) =
  $node->psql('postgres', 'CREATE INDEX CONCURRENTLY av_id2_idx ON av (id)');
like($stderr, qr/CREATE INDEX CONCURRENTLY on "av" cannot start.*pid $vacuum_pid/s,
	'a manual VACUUM still counts as a transaction the build waits for');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($vacuum_pid)");
$vacuum->quit;

$node->stop;
done_testing();
