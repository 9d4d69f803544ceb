# The Debian package of `make deb` (SPEC §11), as apt sees it and as an admin
# uses it: its metadata against this machine's nginx, its files, then installed
# for real with dpkg — enabled in /etc/nginx/modules-enabled, loaded by the stock
# nginx through the system layout and serving a webhook_verify location — then
# removed (the link parked, as Debian's libnginx-mod-* do) and purged (nothing left).
#
# WEBHOOK_DEB names the package (make integration builds it and sets it).
# Installing needs root, a free dpkg lock, no install of the package already
# there and no running system nginx (the nginx-reload trigger would reload it):
# otherwise that part skips, or fails when WEBHOOK_REQUIRE_DEB=1 (CI).
use v5.36;
use Test::More;
use Cwd qw(abs_path);
use Digest::MD5;
use Fcntl qw(:flock);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep);
use WebhookTest qw(read_file http_post error_code sign_github);

plan skip_all => 'SANITIZE=1 builds no release package (make deb refuses the instrumented module)'
    if length($ENV{WEBHOOK_SANITIZER_PRELOAD} // '');

my $PKG      = 'libnginx-mod-http-webhook';
my $REQUIRE  = $ENV{WEBHOOK_REQUIRE_DEB};
my $REPO     = abs_path(dirname(abs_path(__FILE__)) . '/../..');
my $SO       = '/usr/lib/nginx/modules/ngx_http_webhook_module.so';
my $SNIPPET  = '/usr/share/nginx/modules-available/mod-http-webhook.conf';
my $LINK     = '/etc/nginx/modules-enabled/50-mod-http-webhook.conf';
my $DOC      = "/usr/share/doc/$PKG";
my @FILES    = ($SO, $SNIPPET, "$DOC/changelog.gz", "$DOC/copyright");

my $deb = $ENV{WEBHOOK_DEB};
unless ($deb && -f $deb) {
    my $why = $deb ? "WEBHOOK_DEB=$deb does not exist"
                   : 'WEBHOOK_DEB is not set (make integration builds the package with make deb and sets it)';
    plan skip_all => $why unless $REQUIRE;
    fail("WEBHOOK_REQUIRE_DEB=1, but $why");
    done_testing;
    exit;
}
$deb = abs_path($deb);

sub run(@cmd) { return WebhookTest::_capture({ DEBIAN_FRONTEND => 'noninteractive' }, @cmd) }
sub out(@cmd) { my $o = run(@cmd)->{stdout}; chomp $o; return $o }
sub field($name) { return out('dpkg-deb', '-f', $deb, $name) }
sub status() { return out('dpkg-query', '-W', '-f', '${db:Status-Status}', $PKG) || 'not-installed' }

# The nginx-abi-* that this machine's nginx provides (Debian: the nginx package).
sub nginx_abi() {
    my $provides = out('dpkg-query', '-W', '-f', '${Provides}', 'nginx');
    return $provides =~ /\b(nginx-abi-[^\s,]+)/ ? $1 : undef;
}

# The packages whose libraries the packaged module links to (dpkg -S of each path).
# The packages of the libraries the module links directly (its NEEDED
# entries; what those pull in is their packages' business, as for
# dpkg-shlibdeps).
sub library_packages($so) {
    my %pkgs;
    my %needed = map { /NEEDED\s+(\S+)/ ? ($1 => 1) : () } split /\n/, out('objdump', '-p', $so);
    for (split /\n/, out('ldd', $so)) {
        next unless m{^\s*(\S+)\s+=>\s+(/\S+)} && $needed{$1};
        m{=>\s+(/\S+)};
        # dpkg knows a library under /lib or, moved in merged /usr, under /usr/lib
        my $path = $1;
        my $name = $path =~ s{.*/}{}r;
        my $owner = out('dpkg-query', '-S', $path) || out('dpkg-query', '-S', abs_path(dirname($path)) . "/$name");
        $pkgs{$1} = 1 if $owner =~ /^([^:\s]+)/;
    }
    return sort keys %pkgs;
}

my $x = tempdir('ngx_webhook_deb_XXXXXX', TMPDIR => 1, CLEANUP => 1);

subtest 'metadata: for the nginx of this machine, like Debian\'s own modules' => sub {
    is field('Package'), $PKG, 'Package';
    my ($version) = (read_file("$REPO/pkg/debian/changelog") // '') =~ /^\S+ \(([^)]+)\)/;
    is field('Version'), $version, 'Version: pkg/debian/changelog\'s';
    is field('Architecture'), out('dpkg', '--print-architecture'), 'Architecture: this machine\'s';
    is field('Section'), 'httpd', 'Section: httpd';
    is field('Recommends'), 'nginx', 'Recommends: nginx';

    my @depends = split /,\s*/, field('Depends');
    my $abi = nginx_abi();
    ok $abi, "this machine's nginx provides $abi";
    is $depends[0], $abi, 'Depends on exactly the nginx-abi the installed nginx provides';
    my %dep = map { /^(\S+)(?:\s+\((.*)\))?$/ ? ($1 => $2 // '') : () } @depends;
    like $dep{libssl3} // '', qr/^>= /, 'Depends: libssl3 (>= ...)';
    like $dep{libjansson4} // '', qr/^>= /, 'Depends: libjansson4 (>= ...)';
    like $dep{libpq5} // '', qr/^>= /, 'Depends: libpq5 (>= ...) (store=)';

    is run('dpkg-deb', '-x', $deb, "$x/root")->{exit}, 0, 'dpkg-deb -x';
    my @libs = library_packages("$x/root$SO");
    ok scalar(grep { $_ eq 'libssl3' } @libs) && scalar(grep { $_ eq 'libjansson4' } @libs),
       "the module links libssl3's and libjansson4's libraries (@libs)";
    ok exists $dep{$_}, "Depends: $_, the owner of a library the module links" for @libs;

    my $apt = run('apt-get', '-s', 'install', $deb);
    is $apt->{exit}, 0, 'apt-get -s install ./deb: the dependencies resolve here';
    like $apt->{output}, qr/^Inst \Q$PKG\E /m, 'apt would install it';
};

subtest 'files: the libnginx-mod-* layout, stripped, root-owned' => sub {
    my (@files, @bad);
    for (split /\n/, out('dpkg-deb', '-c', $deb)) {
        my ($mode, $owner, $path) = (split ' ', $_)[0, 1, 5];
        $path =~ s{^\.}{};
        push @bad, $_ if $owner ne 'root/root';
        next if $mode =~ /^d/;
        push @files, $path;
        push @bad, $_ if $mode ne '-rw-r--r--';
    }
    is_deeply [sort @files], [sort @FILES], 'the module, its modules-available snippet, copyright and changelog';
    is_deeply \@bad, [], 'all root:root, files 0644';

    is read_file("$x/root$SNIPPET"), "load_module modules/ngx_http_webhook_module.so;\n",
       'the snippet loads the module from nginx\'s modules folder';
    my $sections = out('readelf', '-S', '-W', "$x/root$SO");
    unlike $sections, qr/\.debug_|\.symtab/, 'the module is stripped';
    like $sections, qr/\.note\.gnu\.build-id/, 'its build-id stays';

    is run('dpkg-deb', '-e', $deb, "$x/DEBIAN")->{exit}, 0, 'dpkg-deb -e';
    my %md5 = map { /^(\w{32})\s+(\S+)$/ ? ("/$2" => $1) : () } split /\n/, read_file("$x/DEBIAN/md5sums") // '';
    is_deeply [sort keys %md5], [sort @FILES], 'md5sums lists every file';
    for my $f (sort keys %md5) {
        open my $fh, '<:raw', "$x/root$f" or next;
        is Digest::MD5->new->addfile($fh)->hexdigest, $md5{$f}, "md5sum of $f";
    }
    for my $s (qw(postinst prerm postrm)) {
        ok -x "$x/DEBIAN/$s", "$s is executable";
        is run('sh', '-n', "$x/DEBIAN/$s")->{exit}, 0, "$s parses";
    }
    SKIP: {
        skip 'lintian is not installed', 1 unless out('sh', '-c', 'command -v lintian');
        my $l = run('lintian', '--fail-on', 'error,warning', $deb);
        is $l->{exit}, 0, 'lintian: no error, no warning' or diag $l->{output};
    }
};

# nginx as the system runs it: the harness' configuration with Debian's
# modules-enabled snippets where it loads WEBHOOK_MODULE, and nginx's own prefix
# (/usr/share/nginx/), against which the snippets' "modules/..." resolve. What
# nginx writes stays in the temp prefix (%%PREFIX%%).
package SystemNginx {
    our @ISA = ('WebhookTest::Nginx');
    sub render($self, @a) {
        local $ENV{WEBHOOK_MODULE} = $SO;
        my $conf = $self->SUPER::render(@a);
        $conf =~ s{^load_module \Q$SO\E;$}{include /etc/nginx/modules-enabled/*.conf;}m
            or die "no load_module line in the harness' configuration:\n$conf";
        return $conf;
    }
    sub _cmd($self, @args) {
        return ($self->_env, WebhookTest::nginx_binary(), '-c', $self->conf_path, '-e', $self->error_log_path, @args);
    }
}

my $SECRET = 'deb-package-secret';
my $CONF = <<"EOF";
webhook_zone zone=deb:1m;
server {
    listen 127.0.0.1:%%PORT%%;
    location = /hooks/github {
        webhook_verify github secret=$SECRET replay=deb;
        proxy_pass http://127.0.0.1:%%PORT%%/app;
    }
    location = /app { return 200 "verified\\n"; }
}
EOF

# dpkg, waiting up to a minute for a lock another apt/dpkg holds.
sub dpkg(@args) {
    my $r;
    for (1 .. 120) {
        $r = run('dpkg', @args);
        return $r unless $r->{exit} != 0 && $r->{output} =~ /locked by another process/;
        sleep 0.5;
    }
    $r->{locked} = 1;
    return $r;
}

# One install at a time on this machine: concurrent runs (several checkouts, or
# make test beside a by-hand prove) would remove the package under each other.
my $LOCK_FILE = '/run/lock/ngx_webhook-deb-test.lock';
my $lock_fh;

sub install_blocker() {
    return 'installing a package needs root' if $> != 0;
    open($lock_fh, '>', $LOCK_FILE) or return "cannot open $LOCK_FILE: $!";
    return 'another test run is installing the package' unless flock($lock_fh, LOCK_EX | LOCK_NB);
    my $st = status();
    return "$PKG is already on this machine ($st): the test leaves an admin's install alone" if $st ne 'not-installed';
    return "$LINK(.removed) is already there: the test leaves it alone" if -l $LINK || -l "$LINK.removed";
    return 'a system nginx is running (the nginx-reload trigger would reload it)'
        if run('invoke-rc.d', '--quiet', 'nginx', 'status')->{exit} == 0;
    return undef;
}

my $installed_by_us;
my $test_pid = $$;
END { local $?; run('dpkg', '--purge', $PKG) if $installed_by_us && $$ == $test_pid && status() ne 'not-installed' }
# Ctrl-C or a killed prove must not leave the package installed: END runs on exit, not on a signal.
$SIG{$_} = sub { exit 128 } for qw(INT TERM HUP);

subtest 'installed with dpkg: enabled, loaded by the stock nginx, removed, purged' => sub {
    if (my $why = install_blocker()) {
        plan skip_all => $why unless $REQUIRE;
        fail("WEBHOOK_REQUIRE_DEB=1, but $why");
        return;
    }
    my $r = dpkg('-i', $deb);
    if ($r->{locked}) {
        plan skip_all => 'the dpkg lock stayed taken for a minute' unless $REQUIRE;
        fail('WEBHOOK_REQUIRE_DEB=1, but the dpkg lock stayed taken for a minute');
        return;
    }
    $installed_by_us = 1;
    is $r->{exit}, 0, 'dpkg -i: installs, its dependencies met by this machine' or return diag $r->{output};
    is status(), 'installed', 'status: installed';
    my $verify = run('dpkg', '--verify', $PKG);
    is "$verify->{exit} $verify->{output}", '0 ', 'dpkg --verify: files as packaged';
    ok -f $_, "$_ installed" for @FILES;
    is readlink($LINK), $SNIPPET, "enabled: $LINK -> the snippet";

    my $ng = SystemNginx->new(conf => $CONF);
    my ($exit, $out) = $ng->test_config;
    is $exit, 0, 'nginx -t: the stock nginx loads it through modules-enabled' or return diag $out;
    $ng->start;
    my $body = '{"zen":"Keep it logically awesome."}';
    my $res = http_post($ng->url('/hooks/github'), $body, sign_github($SECRET, $body));
    is "$res->{status} $res->{content}", "200 verified\n", 'a signed webhook passes';
    is error_code(http_post($ng->url('/hooks/github'), $body)), 'missing_signature', 'an unsigned one is refused';
    $ng->stop;
    $ng->log_is_clean;

    $r = dpkg('-r', $PKG);
    is $r->{exit}, 0, 'dpkg -r' or diag $r->{output};
    ok !-e $_, "removed: $_" for @FILES;
    ok !-l $LINK && (readlink("$LINK.removed") // '') eq $SNIPPET, 'the link is parked as .removed';
    ($exit, $out) = $ng->test_config;
    like $out, qr/unknown directive "webhook_zone"/, 'nginx -t: the module is no longer loaded';

    $r = dpkg('-i', $deb);
    is $r->{exit}, 0, 'dpkg -i again' or diag $r->{output};
    ok +(readlink($LINK) // '') eq $SNIPPET && !-l "$LINK.removed", 'the parked link is enabled again';

    unlink $LINK;
    $r = dpkg('-i', $deb);
    is $r->{exit}, 0, 'dpkg -i over the installed package (an upgrade)' or diag $r->{output};
    ok !-l $LINK, 'an admin who disabled the module keeps it disabled';

    $r = dpkg('--purge', $PKG);
    is $r->{exit}, 0, 'dpkg --purge' or diag $r->{output};
    is status(), 'not-installed', 'status: not installed';
    ok !-l $LINK && !-l "$LINK.removed", 'no modules-enabled link left';
    ok !-e $_, "purged: $_" for @FILES, $DOC;
};

done_testing;
