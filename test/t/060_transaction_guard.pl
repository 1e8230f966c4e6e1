# The transaction guard: a guarded DDL waits outside the lock queue while
# old transactions hold its lock, its transaction's strong locks are watched
# until it ends, and a DDL that loses its lock wait inside a transaction
# block is tried again when that is safe.  Each case asserts who waited,
# who was cancelled or terminated, and what was committed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('xact_guard');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'migguard'
max_prepared_transactions = 2
autovacuum = off
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION migguard;
CREATE TABLE t (id int);
INSERT INTO t SELECT generate_series(1, 100);
CREATE TABLE other (id int);
CREATE TABLE schema_migrations (version text);
CREATE ROLE app LOGIN;
GRANT SELECT, INSERT, UPDATE ON t, other TO app;
});

sub bg
{
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_safe('SET application_name = ' . "'" . ($_[0] // 'bg') . "'");
	return $s;
}

# start a statement in a background session without waiting for it
sub start
{
	my ($s, $sql) = @_;
	$s->{stdin} .= "$sql\n";
	$s->{run}->pump_nb();
}

sub pid_of
{
	my ($s) = @_;
	return $s->query_safe('SELECT pg_backend_pid()');
}

sub wait_for
{
	my ($query, $what) = @_;
	ok($node->poll_query_until('postgres', $query), $what);
}

# readers that queue behind a lock on t, each in its own session
sub start_readers
{
	my @r;
	for my $i (1 .. 3)
	{
		my $s = bg("reader$i");
		start($s, 'SELECT count(*) AS reader_done FROM t;');
		push @r, $s;
	}
	return @r;
}

# each reader's count came back; then close them
sub readers_completed
{
	my ($what, @r) = @_;
	for my $s (@r)
	{
		my $out = $s->query('SELECT 1');
		like($out, qr/^100\n/, $what);
		$s->quit;
	}
}

sub events
{
	my ($action) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM migguard.events WHERE action = '$action'");
}

my $logstart;

##
## 1. ALTER in a transaction block, then a long statement while readers
##    queue: the long statement gets 55P03, nothing is committed, the
##    readers complete.
##
my $mig = bg('migration');
$mig->query_safe('BEGIN');
$mig->query_safe('ALTER TABLE t ADD COLUMN held1 int');
is($node->safe_psql('postgres',
		q{SELECT kind || ' ' || lock_mode || ' ' || array_to_string(relations, ',')
		    FROM migguard.guarded_ddl}),
	'transaction AccessExclusiveLock public.t',
	'the transaction stays registered after its ALTER');
start($mig, q{\set VERBOSITY verbose
SELECT pg_sleep(30);});
wait_for(q{SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND state = 'active'},
	'the migration runs its long statement');
my @readers = start_readers();
wait_for(q{SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name LIKE 'reader%' AND wait_event_type = 'Lock'},
	'the readers got through after the watcher acted');
$mig->query('SELECT 1');
like($mig->{stderr}, qr/ERROR:  55P03: canceling statement because other sessions queued behind the AccessExclusiveLock its transaction holds on relation "public.t"/,
	'the long statement is cancelled with 55P03 naming the lock and the relation');
like($mig->{stderr}, qr/sessions? waited .* must be rolled back to release it/s,
	'the detail says how many waited and that the transaction must be rolled back');
$mig->query('ROLLBACK');
readers_completed('a reader completed', @readers);
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = 'held1'}),
	'0', "the ALTER's change was not committed");
is($node->safe_psql('postgres', 'SELECT transaction_cancels FROM migguard.stats'),
	'1', 'the cancel is counted');
$mig->quit;

##
## 2. ALTER in a transaction block, then the session idles while readers
##    queue: terminated; with the setting off, only logged.
##
$mig = bg('migration');
my $mig_pid = pid_of($mig);
$mig->query_safe('BEGIN');
$mig->query_safe('ALTER TABLE t ADD COLUMN held2 int');
@readers = start_readers();
wait_for("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $mig_pid",
	'the idle migration session is terminated');
readers_completed('a reader completed', @readers);
like($node->safe_psql('postgres',
		q{SELECT detail FROM migguard.events WHERE action = 'terminate_idle'}),
	qr/waited.*idle in transaction for/s, 'the termination is an event that says why');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = 'held2'}),
	'0', 'the terminated transaction committed nothing');
$mig->quit;

$node->safe_psql('postgres', q{
ALTER SYSTEM SET migguard.terminate_idle_lock_holders = off;
SELECT pg_reload_conf();});
$node->poll_query_until('postgres',
	q{SELECT current_setting('migguard.terminate_idle_lock_holders') = 'off'});
sleep 1;    # the watcher reloads on SIGHUP
$logstart = -s $node->logfile;
$mig = bg('migration');
$mig_pid = pid_of($mig);
$mig->query_safe('BEGIN');
$mig->query_safe('ALTER TABLE t ADD COLUMN held3 int');
@readers = start_readers();
wait_for(q{SELECT count(*) = 1 FROM migguard.events WHERE action = 'idle_holder'},
	'with the setting off the idle holder is reported');
ok($node->log_contains("is idle in a transaction whose AccessExclusiveLock on relation \"public.t\" others queue behind", $logstart),
	'and logged');
is($node->safe_psql('postgres', "SELECT state FROM pg_stat_activity WHERE pid = $mig_pid"),
	'idle in transaction', 'but not terminated');
$mig->query_safe('COMMIT');
readers_completed('a reader completed after the commit', @readers);
$mig->quit;
$node->safe_psql('postgres', q{
ALTER SYSTEM RESET migguard.terminate_idle_lock_holders;
SELECT pg_reload_conf();});

##
## 3. A 3 s reader holds the table: the ALTER, alone or in BEGIN ... COMMIT,
##    waits outside the queue and succeeds after the reader ends; readers
##    that arrive meanwhile are not blocked.
##
for my $block (0, 1)
{
	my $long = bg('long_reader');
	start($long, q{BEGIN; SELECT count(*) FROM t; SELECT pg_sleep(3); COMMIT;});
	wait_for(q{SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'long_reader' AND query LIKE '%pg_sleep(3)%' AND state = 'active'},
		'the long reader holds the table');
	# older than migguard.old_holder_age
	select(undef, undef, undef, 0.3);
	$mig = bg('migration');
	my $col = "beside$block";
	start($mig, $block
		? "BEGIN; ALTER TABLE t ADD COLUMN $col int; INSERT INTO schema_migrations VALUES ('$col'); COMMIT;"
		: "ALTER TABLE t ADD COLUMN $col int;");
	wait_for(q{SELECT count(*) = 1 FROM migguard.guarded_ddl WHERE state = 'waiting outside the lock queue'},
		'the ALTER waits outside the lock queue');
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET statement_timeout = '2s'; SELECT count(*) FROM t;");
	is($out, '100', "a reader arriving meanwhile is not blocked (block $block)");
	is($node->safe_psql('postgres',
			q{SELECT state FROM migguard.guarded_ddl WHERE kind <> 'transaction' OR state <> 'between statements'}),
		'waiting outside the lock queue', 'while the ALTER still waits');
	$long->query('SELECT 1');
	$mig->query('SELECT 1');
	is($mig->{stderr}, '', "the ALTER succeeded after the reader ended (block $block)");
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = '$col'"),
		'1', 'and its column exists');
	$long->quit;
	$mig->quit;
}

##
## 4. An idle-in-transaction holder: the ALTER fails at the deadline with
##    55P03 naming it, and nobody queued behind it meanwhile.
##
my $idle = bg('idle_holder');
my $idle_pid = pid_of($idle);
$idle->query_safe('BEGIN');
$idle->query_safe('SELECT count(*) FROM t');
$mig = bg('migration');
start($mig, q{SET migguard.outside_queue_timeout = '2s';
\set VERBOSITY verbose
ALTER TABLE t ADD COLUMN never int;});
wait_for(q{SELECT count(*) = 1 FROM migguard.guarded_ddl WHERE state = 'waiting outside the lock queue'},
	'the ALTER waits outside the queue behind the idle holder');
my ($ret4, $out4) = $node->psql('postgres',
	"SET statement_timeout = '3s'; UPDATE t SET id = id WHERE id = 1; SELECT 'writer done';");
like($out4, qr/writer done/, 'a writer arriving meanwhile is not blocked');
$mig->query('SELECT 1');
like($mig->{stderr},
	qr/ERROR:  55P03: could not obtain lock on relation "public.t" after waiting \d+ ms outside its lock queue\nDETAIL:  AccessExclusiveLock on it is held in a conflicting mode by pid $idle_pid \(user \w+, application "idle_holder", idle in transaction.*never joined the lock queue/s,
	'the ALTER fails with 55P03 naming the idle holder and saying it never queued');
$idle->quit;
$mig->quit;

##
## 5. A transaction that holds ACCESS EXCLUSIVE on another table is not
##    tried again, and says so; one that holds nothing strong is.
##
my $holder = bg('young_holder');
$holder->query_safe('BEGIN');
$holder->query_safe('SELECT count(*) FROM t');
$mig = bg('migration');
start($mig, q{SET migguard.wait_outside_queue = off;
SET lock_timeout = '300ms';
\set VERBOSITY verbose
BEGIN;
ALTER TABLE other ADD COLUMN x int;
ALTER TABLE t ADD COLUMN notretried int;
ROLLBACK;});
$mig->query('SELECT 1');
like($mig->{stderr},
	qr/canceling statement due to lock timeout.*not tried again: its transaction holds AccessExclusiveLock on relation "public.other"/s,
	'not retried while the transaction holds a strong lock on another table, and it says so');

my $retries_before = events('retry');
$mig->{stderr} = '';
start($mig, q{SET migguard.retry_delay = '500ms';
BEGIN;
ALTER TABLE t ADD COLUMN retried int;
INSERT INTO schema_migrations VALUES ('retried');
COMMIT;});
wait_for("SELECT count(*) > $retries_before FROM migguard.events WHERE action = 'retry'",
	'the ALTER that lost its lock wait inside a transaction block is tried again');
$holder->query_safe('COMMIT');
$mig->query('SELECT 1');
is($mig->{stderr}, '', 'the retried ALTER succeeded');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM schema_migrations WHERE version = 'retried'}),
	'1', 'and its transaction committed');
$holder->quit;
$mig->quit;

##
## 6. A session that never ran a guarded DDL is never cancelled or
##    terminated, whatever it holds.
##
my $plain = bg('plain');
my $plain_pid = pid_of($plain);
$plain->query_safe('BEGIN');
$plain->query_safe('LOCK TABLE t IN ACCESS EXCLUSIVE MODE');
@readers = start_readers();
sleep 2;    # ten times max_queue_wait
is($node->safe_psql('postgres', "SELECT state FROM pg_stat_activity WHERE pid = $plain_pid"),
	'idle in transaction', 'a session that only locked is left alone');
is($node->safe_psql('postgres', 'SELECT count(*) FROM migguard.guarded_ddl'),
	'0', 'and it is not registered');
$plain->query_safe('COMMIT');
for my $r (@readers) { $r->query('SELECT 1'); $r->quit; }
$plain->quit;

##
## 7. A rollback to a savepoint that releases the lock ends the watch of
##    that relation.
##
$mig = bg('migration');
$mig->query_safe('BEGIN');
$mig->query_safe('ALTER TABLE other ADD COLUMN kept int');
$mig->query_safe('SAVEPOINT s');
$mig->query_safe('ALTER TABLE t ADD COLUMN undone int');
is($node->safe_psql('postgres',
		q{SELECT array_to_string(relations, ',') FROM migguard.guarded_ddl}),
	'public.other,public.t', 'both relations are watched');
$mig->query_safe('ROLLBACK TO SAVEPOINT s');
is($node->safe_psql('postgres',
		q{SELECT array_to_string(relations, ',') FROM migguard.guarded_ddl}),
	'public.other', 'the rollback to the savepoint ends the watch of t');
$mig->query_safe('ROLLBACK');
is($node->safe_psql('postgres', 'SELECT count(*) FROM migguard.guarded_ddl'),
	'0', 'the rollback ends the registration');
$mig->quit;

##
## 8. 10,000 registered transactions, committed and rolled back, leak no
##    slot.
##
my $script = '';
for my $i (1 .. 5000)
{
	$script .= "BEGIN; ALTER TABLE other ALTER COLUMN id SET DEFAULT $i; COMMIT;\n";
	$script .= "BEGIN; ALTER TABLE other ALTER COLUMN id SET DEFAULT $i; ROLLBACK;\n";
}
$script .= "SELECT count(*) FROM migguard.guarded_ddl;\n";
my ($ret8, $out8, $err8) = $node->psql('postgres', $script);
is($ret8, 0, '10,000 registered transactions ran') or diag($err8);
is($out8, '0', 'their session holds no slot afterwards');
is($node->safe_psql('postgres', 'SELECT count(*) FROM migguard.guarded_ddl'),
	'0', 'no slot is left in shared memory');

$node->stop;
done_testing();
