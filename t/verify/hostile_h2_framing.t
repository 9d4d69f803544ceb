# HTTP/2 (h2c, t/npm/h2client.mjs) requests whose content-length NGINX
# refuses, on webhook_verify locations with the stock /plain as control: a
# content-length over client_max_body_size (refused before the body; also
# with the error page served inside the location: 413 + a page), DATA
# beyond the declared content-length, END_STREAM before the declared
# content-length (both found while the body is read); and a slow body and an
# oversize header field. The stream must get NGINX's own answer (413 / 400)
# and end; then fds, CLOSE-WAIT, stub_status,
# zone bytes back to the baseline and a clean error.log (stop included).
#
# Found with this file: the two cases found while reading leak the HTTP/2
# connection in webhook_verify ("open socket ... left in connection" at
# exit), like a bad chunk over HTTP/1.1.
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use HostileTest qw(:all);

my $t = hostile_setup();
# h2_over sends 1200 bytes in two DATA frames; the -small and -epself locations allow 1k.
my %zs = (zeros_sig());
my %sig = map { lc($_) => $zs{$_} } keys %zs;

for my $g ('plain', 'verify') {
    scenario($t, "h2 /$g-small: content-length over client_max_body_size", sub {
        h2_all_ok(h2_over($t, "/$g-small", $g, headers => { 'content-length' => '1200' }), h2_answer(413), '413, stream ended');
    });
}
for my $g ('plain', 'verify') {
    scenario($t, "h2 /$g-epself/ (error page inside the location): content-length over client_max_body_size", sub {
        # (stock nginx 1.22 answers its own 413 page here over HTTP/2, not the error_page)
        h2_all_ok(h2_over($t, "/$g-epself/x", $g, headers => { 'content-length' => '1200' }),
                  sub ($s) { $s->{status} == 413 && $s->{ended} && $s->{body} =~ /\A(?:<html>|custom too large page\n\z)/ },
                  "413 with NGINX's page or the error page (not a JSON refusal), stream ended");
    });
}
for my $g ('plain', 'verify') {
    scenario($t, "h2 /$g: DATA beyond the declared content-length", sub {
        h2_all_ok(h2_over($t, "/$g", $g, headers => { 'content-length' => '700' }), h2_answer(400), '400, stream ended');
    });
    scenario($t, "h2 /$g: END_STREAM before the declared content-length", sub {
        h2_all_ok(h2_over($t, "/$g", $g, headers => { 'content-length' => '5000' }), h2_answer(400), '400, stream ended');
    });
}

scenario($t, 'h2 /verify: slow body (3 DATA frames 0.4 s apart, within client_body_timeout)', sub {
    my @p = ('{"slow":"' . ('s' x 300), 't' x 300, ('u' x 300) . '"}');
    my $b = join '', @p;
    my %h = pass_headers($t, 'verify', $b);
    my $rep = h2_burst($t, request => { method => 'POST', path => '/verify', headers => { map { lc($_) => $h{$_} } keys %h },
                                        body => \@p }, action => 'complete', pause_ms => 400);
    h2_all_ok($rep, h2_answer(200), '200, stream ended');
});

scenario($t, 'h2 /verify: oversize header field (10 KB)', sub {
    my $rep = h2_burst($t, request => { method => 'POST', path => '/verify', headers => { %sig, 'x-big' => 'b' x 10000 },
                                        body => ['hello'] }, action => 'complete');
    h2_all_ok($rep, sub ($s) { $s->{closed} && $s->{status} != 200 }, 'refused (no 200), stream closed');
});

finish($t);
done_testing;
