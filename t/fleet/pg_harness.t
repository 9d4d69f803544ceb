# t/lib/PgTest.pm, the private PostgreSQL of the fleet tests: it starts, answers
# psql over TCP, stops (psql then fails), starts again on the same port with
# the data kept, and recovers after a crash (kill9).
use v5.36;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use Time::HiRes qw(time);
use WebhookTest qw(:all);
use PgTest;

my $t0 = time;
my $pg = PgTest->start;
diag sprintf 'PostgreSQL started in %.2f s on port %d', time - $t0, $pg->port;

ok($pg->is_running, 'running after start');
like($pg->uri, qr{^postgresql://webhook\@127\.0\.0\.1:\d+/webhook$}, 'uri: ' . $pg->uri);
is($pg->uri, 'postgresql://webhook@127.0.0.1:' . $pg->port . '/webhook', 'uri names port()');
is($pg->psql('select 1'), '1', 'select 1');
is($pg->psql('select current_user, current_database()'), 'webhook|webhook', 'superuser webhook, database webhook');
is($pg->psql('show fsync'), 'off', 'fsync=off');
is($pg->psql('show max_connections'), '200', 'max_connections=200');

$pg->psql(<<'SQL');
create table kept (id int primary key, name text not null);
insert into kept values (1, 'one'), (2, 'two');
SQL
is($pg->psql('select count(*) from kept'), '2', 'two rows written');
ok(!eval { $pg->psql('select * from no_such_table'); 1 }, 'psql dies on an SQL error');
like($@, qr/no_such_table/, 'with the server message');

my $port = $pg->port;
$pg->stop;
ok(!$pg->is_running, 'stopped');
$pg->stop;
pass('stop twice is harmless');
ok(!eval { $pg->psql('select 1'); 1 }, 'psql fails while stopped');
like($@, qr/127\.0\.0\.1|connect|refused/i, 'connection refused');

$pg->start_again;
ok($pg->is_running, 'running again');
is($pg->port, $port, 'same port');
is($pg->psql('select name from kept order by id'), "one\ntwo", 'data survived the stop');

$pg->psql("insert into kept values (3, 'three')");
$pg->kill9;
ok(!$pg->is_running, 'killed');
$pg->start_again;
is($pg->psql('select count(*) from kept'), '3', 'committed data survived kill -9 (WAL recovery)');
like($pg->log, qr/database system was interrupted|not properly shut down|redo/, 'the log shows the crash recovery');

done_testing;
