# The watcher: it starts with the server, shows in pg_stat_activity, reloads
# its settings on SIGHUP, and comes back when it is terminated or killed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('watcher');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'migguard'
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION migguard');

# pid of the running watcher, once pg_stat_activity shows one other than $old
sub watcher_pid
{
	my ($old) = @_;
	$old //= 0;
	my $pid;
	for (1 .. 300)
	{
		$pid = $node->safe_psql('postgres',
			q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'migguard watcher'});
		return $pid if $pid ne '' && $pid != $old;
		usleep(100_000);
	}
	return undef;
}

my $pid = watcher_pid();
ok(defined $pid, 'watcher runs and shows in pg_stat_activity');
is($node->safe_psql('postgres', 'SELECT worker_pid FROM migguard.status'),
	$pid, 'status reports the watcher pid');

# SIGHUP: the watcher processes the reload and the new setting is in force
$node->safe_psql('postgres', q{ALTER SYSTEM SET migguard.mode = 'warn'});
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok( $node->poll_query_until('postgres',
		'SELECT worker_reloaded IS NOT NULL FROM migguard.status'),
	'watcher handled SIGHUP');
is($node->safe_psql('postgres', 'SELECT mode FROM migguard.status'),
	'warn', 'reloaded mode is in force');
is($node->safe_psql('postgres', 'SELECT worker_pid FROM migguard.status'),
	$pid, 'reload does not restart the watcher');

# pg_terminate_backend: the postmaster restarts it
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
my $pid2 = watcher_pid($pid);
ok(defined $pid2, 'watcher restarted after pg_terminate_backend');

# SIGKILL: a crash restart of the whole server, and the watcher comes back
kill 'KILL', $pid2;
my $pid3;
for (1 .. 300)
{
	# (during the crash restart psql may exit before it reads its input)
	my ($ret, $out) = eval {
		$node->psql('postgres',
			q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'migguard watcher'});
	};
	if (defined $ret && $ret == 0 && $out ne '' && $out != $pid2)
	{
		$pid3 = $out;
		last;
	}
	usleep(100_000);
}
ok(defined $pid3, 'watcher back after SIGKILL and crash restart');
is($node->safe_psql('postgres', 'SELECT preloaded FROM migguard.status'),
	't', 'shared memory usable after crash restart');

# SIGTERM at shutdown: a clean stop
$node->stop('fast');
ok(!-e $node->data_dir . '/postmaster.pid', 'server stops cleanly');

done_testing();
