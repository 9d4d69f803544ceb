package FaultTest;

# Disk faults for the integration tests (t/store/fault_*.t): builds the LD_PRELOAD
# interposer t/fault/faultfs.c into a temp dir and drives it through its
# control file, at run time, without restarting nginx.
#
#   use FaultTest;
#   my $fault = FaultTest->new;                       # compiles faultfs.so (once per test)
#   my $ng = WebhookTest::Nginx->new(conf => ..., env => $fault->env);   # nginx only
#   $fault->set(ops => 'writes', errno => 'ENOSPC', path => '/state/journal-');
#   ... requests fail to be journaled ...
#   $fault->clear;
#   $fault->hits                                      # injected failures so far
#
# set() options (see t/fault/faultfs.c for the full list):
#   ops   => 'writes' | 'write,fdatasync' | 'fsync,fdatasync' | 'open' | 'rename' | ...
#   errno => 'ENOSPC' | 'EIO' | ...
#   path  => substring of the file's path (or an array ref of substrings)
#   count => N        only the next N matching calls fail (across all processes)
#   short => K        the first faulted write on an fd writes K bytes, the next fails

use v5.36;
use Carp qw(croak);
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use WebhookTest ();

my $SEQ = 0;

sub source() { return abs_path(File::Spec->catfile(dirname(abs_path(__FILE__)), '..', 'fault', 'faultfs.c')) }

sub new($class) {
    my $dir = tempdir('ngx_webhook_fault_XXXXXX', TMPDIR => 1, CLEANUP => !$ENV{WEBHOOK_TEST_KEEP});
    chmod 0755, $dir;    # nginx workers run as nobody when the tests run as root
    my $so = "$dir/faultfs.so";
    my $src = source();
    croak "missing $src" unless -f $src;
    my $out = WebhookTest::_capture($ENV{CC} // 'cc', '-shared', '-fPIC', '-O2', '-Wall', '-o', $so, $src, '-ldl',
                                    '-lpthread');
    croak "cannot build faultfs.so: $out->{output}" if $out->{exit} != 0 || !-f $so;
    chmod 0755, $so;
    # The control file's directory also holds the count claims: writable by the workers.
    mkdir "$dir/ctl" or croak "mkdir: $!";
    chmod 01777, "$dir/ctl";
    my $self = bless { dir => $dir, so => $so, ctl => "$dir/ctl/control", log => "$dir/ctl/hits.log" }, $class;
    WebhookTest::write_file($self->{log}, '');
    chmod 0666, $self->{log};
    $self->clear;
    return $self;
}

sub so($self)  { return $self->{so} }
sub dir($self) { return $self->{dir} }

# The environment nginx needs (pass as env => ... or with set_env).
sub env($self) {
    return { LD_PRELOAD => $self->{so}, FAULTFS_CONTROL => $self->{ctl}, FAULTFS_LOG => $self->{log} };
}

sub _write_control($self, $text) {
    my $tmp = "$self->{ctl}.tmp";
    WebhookTest::write_file($tmp, $text);
    chmod 0644, $tmp;
    rename $tmp, $self->{ctl} or croak "rename $tmp: $!";
}

sub set($self, %o) {
    croak 'ops => required' unless $o{ops};
    my @paths = ref $o{path} ? @{ $o{path} } : defined $o{path} ? ($o{path}) : ();
    my $text = "ops=$o{ops}\nerrno=" . ($o{errno} // 'EIO') . "\n";
    $text .= "path=$_\n" for @paths;
    $text .= "count=$o{count}\nid=" . $$ . '_' . ++$SEQ . "\n" if $o{count};
    $text .= "short=$o{short}\n" if $o{short};
    $self->_write_control($text);
    $self->{active} = { %o };
}

sub clear($self) {
    $self->_write_control('');
    delete $self->{active};
}

# Injected failures so far: { pid, op, errno, path, short }.
sub hits($self) {
    my @h;
    for (split /\n/, WebhookTest::read_file($self->{log}) // '') {
        my ($pid, $op, $errno, $path, $short) = /^(\d+) (\S+) (\d+) (\S+)(?: short=(\d+))?$/ or next;
        push @h, { pid => $pid, op => $op, errno => $errno, path => $path, short => $short };
    }
    return @h;
}
sub hit_count($self) { return scalar(my @h = $self->hits) }

# Text of the errno as strerror gives it, for error-log matching.
sub strerror($name) {
    my %text = (ENOSPC => 'No space left on device', EIO => 'Input/output error', EDQUOT => 'Disk quota exceeded',
                EROFS => 'Read-only file system');
    return $text{$name} // croak "no text for $name";
}

# { name => content } of every file in a directory (for "left as it was").
sub dir_contents($dir) {
    my %c;
    opendir my $d, $dir or return {};
    for my $n (sort grep { !/^\.\.?$/ } readdir $d) {
        next if -d "$dir/$n";
        $c{$n} = WebhookTest::read_file("$dir/$n");
    }
    closedir $d;
    return \%c;
}

1;
