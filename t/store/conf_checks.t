# nginx -t and state=DIR (issue 9): what start would find wrong with DIR is
# reported by nginx -t too, at the webhook_zone line: DIR is a file, its
# parent is missing or not a directory, the worker user cannot write to it.
# As NGINX does with its temp paths (ngx_create_paths, run by nginx -t as
# well), a missing DIR is created and handed to the worker user; an existing
# one only if it holds the module's files (never state=/tmp by mistake).
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use ConfTest qw(refused accepted);

my $ADMIN = 'admin-key-store-conf-checks-41c9';

sub conf($state) {
    return <<"EOF";
    webhook_zone zone=wz:1m state=$state;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /v1/ { webhook_api admin_key=%%ADMIN%%; }
    }
EOF
}
my %vars = (vars => { ADMIN => $ADMIN });

refused('state= names a file', conf('%%PREFIX%%/file'), 'webhook_zone',
        'webhook_zone "wz": state="%%PREFIX%%/file" is not a directory: give state= a directory (created when missing)',
        %vars, setup => sub ($ng) { write_file($ng->prefix . '/file', '') });
refused('the parent of state= is missing', conf('%%PREFIX%%/no/such/state'), 'webhook_zone',
        'webhook_zone "wz": the directory "%%PREFIX%%/no/such" that would hold state="%%PREFIX%%/no/such/state" does '
        . 'not exist: create it (mkdir -p %%PREFIX%%/no/such) or choose another state=', %vars);
# DIR/ and a//b: the parent named is the directory that is missing.
refused('the parent of state=DIR/ is missing', conf('%%PREFIX%%/no/such//state/'), 'webhook_zone',
        'webhook_zone "wz": the directory "%%PREFIX%%/no/such" that would hold state="%%PREFIX%%/no/such//state" '
        . 'does not exist: create it (mkdir -p %%PREFIX%%/no/such) or choose another state=', %vars);
refused('the parent of state= is a file', conf('%%PREFIX%%/file/state'), 'webhook_zone',
        'webhook_zone "wz": "%%PREFIX%%/file" (or a path above it) is not a directory, so state="%%PREFIX%%/file/state" '
        . 'cannot be created: choose another state=', %vars, setup => sub ($ng) { write_file($ng->prefix . '/file', '') });
refused('in an included file', "    include %%PREFIX%%/conf/inc.conf;\n" . conf('%%PREFIX%%/file') =~ s/^.*webhook_zone.*\n//mr,
        'webhook_zone',
        'webhook_zone "wz": state="%%PREFIX%%/file" is not a directory: give state= a directory (created when missing)',
        %vars, include => "# the zone\n\nwebhook_zone zone=wz:1m state=%%PREFIX%%/file;\n",
        setup => sub ($ng) { write_file($ng->prefix . '/file', '') });

SKIP: {
    skip 'needs root: the workers must run as another user than the master', 25 if $> != 0;
    my @nobody = getpwnam('nobody') or skip 'no user nobody', 25;

    # DIR under a directory only root may enter (0700), and under one only
    # root's group may (0770): the worker user has neither (its own
    # supplementary groups, not root's).
    for my $mode (0700, 0770) {
        refused(sprintf('DIR under a %04o directory of root', $mode), conf('%%PREFIX%%/private/state'), 'webhook_zone',
                'webhook_zone "wz": the worker user "nobody" cannot write to the state directory '
                . '"%%PREFIX%%/private/state": let it search (x) every directory above it, or choose another state= '
                . '(13: Permission denied)', %vars,
                setup => sub ($ng) { mkdir $ng->prefix . '/private'; chmod $mode, $ng->prefix . '/private' });
    }

    # A missing DIR is created for the worker user.
    my ($ng) = accepted('a missing DIR', conf('%%PREFIX%%/state'), %vars);
    my @st = stat($ng->prefix . '/state');
    ok(@st && -d _, 'nginx -t created DIR');
    is($st[4], $nobody[2], 'DIR belongs to the worker user');
    is($st[2] & 07777, 0700, 'DIR is 0700');

    # An existing DIR that is not the module's (state=/tmp, a home directory
    # by mistake) is never handed over: the worker user must already be able
    # to write there.
    ($ng) = refused('a root-owned DIR the worker user cannot write', conf('%%PREFIX%%/state'), 'webhook_zone',
            'webhook_zone "wz": the worker user "nobody" cannot write to the state directory "%%PREFIX%%/state": '
            . 'give it to that user (chown nobody %%PREFIX%%/state) or choose another state= (13: Permission denied)',
            %vars, setup => sub ($ng) { mkdir $ng->prefix . '/state'; chmod 0755, $ng->prefix . '/state' });
    @st = stat($ng->prefix . '/state');
    is(sprintf('%d %04o', $st[4], $st[2] & 07777), '0 0755', 'that DIR keeps its owner and mode');
    ($ng) = accepted('an existing DIR of another user, the worker user can write', conf('%%PREFIX%%/state'), %vars,
                     setup => sub ($ng) {
                         mkdir $ng->prefix . '/state';
                         chown 1, 1, $ng->prefix . '/state';
                         chmod 01777, $ng->prefix . '/state';
                     });
    @st = stat($ng->prefix . '/state');
    is(sprintf('%d %d %04o', @st[4, 5], $st[2] & 07777), '1 1 1777', 'that DIR keeps its owner, group and mode');
    ok(!-e $ng->prefix . '/state/.write-test', 'the write test left nothing behind');

    # A DIR holding the module's files (an earlier start, another worker user
    # then) is handed over, made u+rwx.
    for my $file ('lock', 'snapshot', 'journal-1-123.log') {
        ($ng) = accepted("a root-owned 0500 DIR holding $file", conf('%%PREFIX%%/state'), %vars, setup => sub ($ng) {
            mkdir $ng->prefix . '/state';
            write_file($ng->prefix . "/state/$file", '');
            chmod 0500, $ng->prefix . '/state';
        });
        @st = stat($ng->prefix . '/state');
        is(sprintf('%d %04o', $st[4], $st[2] & 07777), "$nobody[2] 0700", "$file: DIR handed to the worker user, u+rwx");
    }
}

done_testing;
