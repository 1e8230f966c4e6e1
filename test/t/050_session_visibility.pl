# Other sessions' details in migguard's errors and events follow
# pg_stat_activity's rule: a user who may not see a session (neither a
# member of its role nor of pg_read_all_stats) learns its pid and user only,
# never its state, idle time, transaction age, application or query.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('visibility');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'migguard'
migguard.cic_wait_timeout = '500ms'
migguard.lock_retries = 0
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION migguard;
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE ROLE carol LOGIN IN ROLE pg_read_all_stats;
GRANT CREATE ON SCHEMA public TO bob, carol;
CREATE TABLE bobs (id int);
ALTER TABLE bobs OWNER TO bob;
CREATE TABLE carols (id int);
ALTER TABLE carols OWNER TO carol;
GRANT SELECT ON bobs TO alice;
});

# alice holds a snapshot, idle in transaction, with a query of her own.
my $alice = $node->background_psql('postgres',
	extra_params => [ '-U', 'alice' ]);
$alice->query_safe(q{SET application_name = 'alices_app'});
$alice->query_safe('BEGIN ISOLATION LEVEL REPEATABLE READ');
my $alice_pid = $alice->query_safe(
	q{SELECT pg_backend_pid() FROM (SELECT txid_current()) x WHERE 'alices secret' <> ''});

sub cic_error
{
	my ($user, $table) = @_;
	my ($ret, $stdout, $stderr) = $node->psql('postgres',
		"CREATE INDEX CONCURRENTLY ${table}_idx ON $table (id)",
		extra_params => [ '-U', $user ]);
	return $stderr;
}

# bob may not see alice's session: pid and user only.
my $err = cic_error('bob', 'bobs');
like($err, qr/would still wait for: pid $alice_pid \(user alice\)\. No index/,
	'the CIC pre-wait error shows bob only pid and user of alice\'s session');
unlike($err, qr/idle in transaction|transaction age|alices_app|alices secret/,
	'and none of her state, ages, application or query');
my $event = $node->safe_psql('postgres',
	q{SELECT detail FROM migguard.events WHERE action = 'cic_blocked' AND username = 'bob'});
like($event, qr/pid $alice_pid \(user alice\)$/,
	'the event of bob\'s build is written for bob: pid and user only');

# carol is in pg_read_all_stats, postgres is superuser: they see it all.
$err = cic_error('carol', 'carols');
like($err,
	qr/pid $alice_pid \(user alice, application "alices_app", idle in transaction for [^,]+, transaction age [^,]+, query: SELECT pg_backend_pid/,
	'a member of pg_read_all_stats sees state, ages, application and query');
$node->safe_psql('postgres', 'CREATE TABLE supers (id int)');
$err = cic_error('postgres', 'supers');
like($err, qr/pid $alice_pid \(user alice, application "alices_app", idle in transaction/,
	'so does a superuser');

# alice herself sees her own session in full.
$node->safe_psql('postgres', 'CREATE TABLE alices (id int); ALTER TABLE alices OWNER TO alice');
$err = cic_error('alice', 'alices');
like($err, qr/pid $alice_pid \(user alice, application "alices_app", idle in transaction/,
	'a user sees the details of her own sessions');

# A guarded DDL the watcher cancels: its message names the blocker as bob
# may see it.
$alice->query_safe('COMMIT');
$alice->query_safe('BEGIN');
$alice->query_safe('SELECT count(*) FROM bobs');
# (in the lock queue, where the watcher sees the queue behind it)
$node->safe_psql('postgres',
	'ALTER ROLE bob SET migguard.wait_outside_queue = off');
my $ddl = $node->background_psql('postgres',
	extra_params => [ '-U', 'bob' ], on_error_stop => 0);
$ddl->query_until(qr/started/, q{\echo started
ALTER TABLE bobs ADD COLUMN c int;
\echo done
});
$node->poll_query_until('postgres',
	q{SELECT count(*) > 0 FROM migguard.guarded_ddl WHERE username = 'bob'})
  or die 'the DDL was not registered';
# a reader queues behind the waiting DDL; the watcher cancels the DDL
my $reader = $node->background_psql('postgres');
$reader->query_until(qr/started/, q{\echo started
SELECT count(*) FROM bobs;
\echo done
});
$reader->query_until(qr/done/, '');
$ddl->query_until(qr/done/, '');
like($ddl->{stderr}, qr/held by pid $alice_pid \(user alice\)\./,
	'the cancel message shows bob only pid and user of the blocker');
unlike($ddl->{stderr}, qr/idle in transaction|transaction age/,
	'and not its state or transaction age');
like($node->safe_psql('postgres',
		q{SELECT detail FROM migguard.events WHERE action = 'cancel' AND username = 'bob'}),
	qr/held by pid $alice_pid \(user alice\)\./, 'nor does the event');

$alice->query_safe('COMMIT');
$alice->quit;
$ddl->quit;
$reader->quit;
$node->stop;
done_testing();
