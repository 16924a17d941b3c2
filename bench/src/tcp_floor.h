#pragma once
// The tcp floor: the least a server can do to deliver the same events. One thread, one
// epoll loop, a tick by absolute deadline (timerfd), each event encoded once by
// tickcast::encode_event and written as a length-prefixed frame with one write() per
// client. Commands (start/stop frames) are answered by an event to every client at once.

namespace tickcast::bench {

/// run_tcp_floor serves on 127.0.0.1:port (or `host`) until SIGTERM/SIGINT; returns the
/// process exit code. It prints "tcp-floor listening PORT" once it accepts clients.
int run_tcp_floor(const char* host, int port, int tick_ms);

}  // namespace tickcast::bench
