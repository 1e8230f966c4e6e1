# Without shared_preload_libraries the library installs nothing: CREATE
# EXTENSION works, status says so, and what needs the preloaded library
# fails with a hint.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('plain');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION migguard');
is($node->safe_psql('postgres',
		'SELECT preloaded, worker_pid IS NULL, mode IS NULL FROM migguard.status'),
	'f|t|t', 'status reports the library is not preloaded');

my ($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM migguard.events');
isnt($ret, 0, 'events fails without the preloaded library');
like($err, qr/migguard must be loaded via "shared_preload_libraries"/, 'error says why');
like($err, qr/HINT:  Add migguard to "shared_preload_libraries"/, 'hint says how');

# no hook was installed: a large CREATE INDEX is not checked
$node->safe_psql('postgres', q{
	CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 400000) g;
	CREATE INDEX ON t (id);
});
pass('no half-installed hook');

$node->stop;
done_testing();
