# Hostile HTTP/1.1 clients on a webhook_emit location (+ proxy_pass; the event
# is published in the log phase, to no subscriber, so nothing is stored): RST
# at each stage (after the headers, mid-body, while the upstream works, while
# it answers), bad chunk framing, a chunked body over the limit with the
# error page inside the location, pipelined requests. After each burst: fds,
# CLOSE-WAIT, stub_status, zone bytes back to the baseline; error.log (stop
# included) clean. (webhook_emit over HTTP/2: t/verify/hostile_h2.t; the
# webhook_status bursts that shared this file: t/status/hostile.t.)
use v5.36;
use Test::More;
use WebhookTest qw(:all);
use HostileTest qw(:all);

my $t = hostile_setup();

proxy_h1_scenarios($t, 'emit');

finish($t);
done_testing;
