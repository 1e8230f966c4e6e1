# preflight() against a real streaming standby: replay lag, and WAL kept
# by replication slots.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'migguard'
migguard.preflight_max_replay_lag = '1s'
});
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION migguard; CREATE TABLE r (id int)');
$primary->backup('base');

# a standby that applies commits two seconds late
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'migguard'
recovery_min_apply_delay = '2s'
});
$standby->start;
$primary->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_replication WHERE state = 'streaming'})
  or die 'the standby did not connect';

sub check
{
	my ($name) = @_;
	return $primary->safe_psql('postgres',
		"SELECT status || ' | ' || observed || ' | ' || coalesce(detail, '') FROM migguard.preflight() WHERE check_name = '$name'");
}

like(check('replication_lag'), qr/^ok \| 1 standbys/, 'one standby, caught up');

# a commit the standby applies two seconds late shows as replay lag
$primary->safe_psql('postgres', 'INSERT INTO r VALUES (1)');
ok( $primary->poll_query_until('postgres',
		q{SELECT status = 'warn' FROM migguard.preflight() WHERE check_name = 'replication_lag'}),
	'a standby behind by more than migguard.preflight_max_replay_lag is a warning');
like(check('replication_lag'), qr/replay lag [2-9]/, 'the detail names the standby and its lag');

like(check('replication_slots'), qr/^ok \| 0 slots/, 'no slots: ok');

# an inactive slot that keeps WAL
$primary->safe_psql('postgres',
	q{SELECT pg_create_physical_replication_slot('stale', true)});
like(check('replication_slots'), qr/^warn \| 1 slots.*stale \(inactive/,
	'an inactive slot is a warning');
$primary->safe_psql('postgres', q{
INSERT INTO r SELECT generate_series(1, 50000);
SELECT pg_switch_wal();
});
$primary->safe_psql('postgres', q{ALTER SYSTEM SET migguard.preflight_max_slot_wal = '1MB'; SELECT pg_reload_conf()});
$primary->poll_query_until('postgres',
	q{SELECT current_setting('migguard.preflight_max_slot_wal') = '1MB'});
like(check('replication_slots'), qr/^fail \| 1 slots, most WAL retained/,
	'a slot keeping more WAL than migguard.preflight_max_slot_wal fails');
my ($ret, $stdout, $stderr) =
  $primary->psql('postgres', 'SELECT migguard.assert_preflight()');
like($stderr, qr/preflight check failed.*replication_slots: 1 slots/s,
	'assert_preflight() fails, naming the check');

$primary->safe_psql('postgres', q{SELECT pg_drop_replication_slot('stale')});
($ret, $stdout, $stderr) =
  $primary->psql('postgres', 'SELECT migguard.assert_preflight()');
is($ret, 0, 'and passes once the slot is gone') or diag($stderr);

# on the standby: preflight runs, with no hazard from replication itself
like($standby->safe_psql('postgres',
		q{SELECT string_agg(check_name || '=' || status, ',') FROM migguard.preflight() WHERE check_name LIKE 'replication%'}),
	qr/replication_lag=ok,replication_slots=ok/, 'preflight works on a standby');

$standby->stop;
$primary->stop;
done_testing();
