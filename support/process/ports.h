#pragma once
// Loopback ports for the servers that tests and the bench start.

namespace tickcast::support {

/// free_port returns a loopback TCP port that was free a moment ago (a random one below the
/// kernel's ephemeral range, checked by a bind).
/// Throws std::runtime_error if no socket can be bound.
int free_port();

/// port_accepts tells whether something accepts TCP connections on 127.0.0.1:port now.
bool port_accepts(int port);

}  // namespace tickcast::support
