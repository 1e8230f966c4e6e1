# In log mode, which observes and changes nothing, a concurrent build is
# neither refused before it starts nor cancelled while it waits: it waits
# for other transactions as it would without migguard, and what it waits
# for is only recorded.  (warn mode, like enforce, bounds the wait: test
# 030.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('cic_modes');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'migguard'
migguard.cic_wait_timeout = '300ms'
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION migguard;
CREATE TABLE t (id int);
INSERT INTO t SELECT generate_series(1, 100);
});

my $blocker = $node->background_psql('postgres');

for my $mode ('log')
{
	$blocker->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
	my $pid = $blocker->query_safe(
		'SELECT pg_backend_pid() FROM (SELECT txid_current()) x');
	my $builder = $node->background_psql('postgres', on_error_stop => 0);
	$builder->query_safe("SET migguard.mode = $mode");
	$builder->query_until(qr/started/, qq{\\echo started
CREATE INDEX CONCURRENTLY t_${mode}_idx ON t (id);
\\echo done
});
	# the build itself waits for the snapshot, as without migguard
	ok($node->poll_query_until('postgres',
			qq{SELECT count(*) > 0 FROM pg_stat_progress_create_index p
			   JOIN pg_index i ON i.indexrelid = p.index_relid
			   WHERE i.indexrelid = 't_${mode}_idx'::regclass}),
		"$mode mode: the build starts although pid $pid holds a snapshot");
	ok($node->poll_query_until('postgres',
			qq{SELECT count(*) > 0 FROM migguard.events
			   WHERE action = 'cic_blocked' AND detail LIKE 'pid $pid %'}),
		"$mode mode: what it waits for is an event");
	# well past migguard.cic_wait_timeout: nobody cancels it
	sleep(1);
	$blocker->query_safe('COMMIT');
	$builder->query_until(qr/done/, '');
	is($node->safe_psql('postgres',
			"SELECT indisvalid FROM pg_index WHERE indexrelid = 't_${mode}_idx'::regclass"),
		't', "$mode mode: once the snapshot is gone the build completes");
	unlike($builder->{stderr}, qr/WARNING|ERROR/, 'log mode tells the client nothing');
	$builder->quit;
}

$blocker->quit;
$node->stop;
done_testing();
