# On a hot standby migguard leaves every decision to PostgreSQL: its own
# read-only and recovery errors come first, never a rule's rejection.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'migguard'
migguard.large_table_size = '64kB'
});
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION migguard;
CREATE TABLE big (id int, n int);
INSERT INTO big SELECT g, g FROM generate_series(1, 5000) g;
});
$primary->backup('base');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'migguard'
migguard.large_table_size = '64kB'
});
$standby->start;
$primary->wait_for_catchup($standby);

# the primary rejects it: the table is large
my ($ret, $stdout, $stderr) =
  $primary->psql('postgres', 'CREATE INDEX big_n_idx ON big (n)');
like($stderr, qr/would block writes.*index_not_concurrent/s,
	'the primary applies the rule');

my %cases = (
	'CREATE INDEX big_n_idx ON big (n)' =>
	  qr/cannot execute CREATE INDEX in a read-only transaction/,
	'ALTER TABLE big ALTER COLUMN n TYPE bigint' =>
	  qr/cannot execute ALTER TABLE in a read-only transaction/,
	'VACUUM FULL big' => qr/cannot execute VACUUM during recovery/,
	'CLUSTER' => qr/cannot execute CLUSTER during recovery|read-only/,
	'BEGIN; SET LOCAL migguard.allow = \'vacuum_full\'; VACUUM FULL big; COMMIT' =>
	  qr/VACUUM cannot run inside a transaction block|during recovery/,);
foreach my $sql (sort keys %cases)
{
	($ret, $stdout, $stderr) = $standby->psql('postgres', $sql);
	like($stderr, $cases{$sql}, "standby: PostgreSQL's own error for: $sql");
	unlike($stderr, qr/Rule: |migguard/, "standby: no migguard message for: $sql");
}

is($standby->safe_psql('postgres',
		q{SELECT count(*) FROM migguard.events WHERE action IN ('reject', 'warn', 'bypass')}),
	'0', 'the standby recorded no rule event');

$standby->stop;
$primary->stop;
done_testing();
