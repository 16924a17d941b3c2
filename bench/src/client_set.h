#pragma once
// The clients of one run: N connections of one transport to one room, opened from this
// process, event-driven. Each transport implements ClientSet; the runner drives them all
// the same way.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "recorder.h"

namespace tickcast::bench {

/// Endpoint is where the clients connect.
struct Endpoint {
  std::string host = "127.0.0.1";
  int port = 0;       ///< HTTP port (ws, sse, longpoll, REST) or the tcp floor's port
  int mqtt_port = 0;  ///< broker port (mqtt)
  std::string room = "bench";
  bool tls = false;  ///< https / wss (the *-tls rows)
  /// client_loops: epoll loops (threads) the bench's own stream clients are spread over.
  std::size_t client_loops = 1;
  /// client_poll_us: the stream clients' loops poll every this many µs instead of sleeping
  /// until a socket is ready (0: they sleep; see EventLoop::poll_every).
  int client_poll_us = 0;
};

/// ClientSet is N clients of one transport.
/// Threads: every member from the runner's thread; the clients run on their own thread
/// and report into recorder().
class ClientSet {
 public:
  virtual ~ClientSet() = default;
  /// start begins connecting `n` clients, at most `in_flight` connecting at a time.
  virtual void start(std::size_t n, std::size_t in_flight) = 0;
  /// failed counts clients that could not connect or were closed.
  virtual std::size_t failed() const = 0;
  /// first_error describes the first failure; empty when none.
  virtual std::string first_error() const = 0;
  /// send_command sends `json` as client 0 would on this transport (ws: its socket;
  /// sse, longpoll: REST; mqtt: a publish; tcp: a frame). False when it could not be sent.
  virtual bool send_command(std::string_view json) = 0;
  /// other_processes_cpu_seconds is the CPU time used so far by the processes other than
  /// this one that run clients of this set (0 when they all run here).
  virtual double other_processes_cpu_seconds() const { return 0; }
  /// reader_sleeps counts the times the threads reading the clients' sockets have gone to
  /// sleep so far; nothing when this set does not know (its clients are a library's).
  virtual std::optional<std::uint64_t> reader_sleeps() const { return std::nullopt; }
  /// processes counts the child processes the clients run in (0: this process).
  virtual std::size_t processes() const { return 0; }
  /// recorder is what the clients saw.
  Recorder& recorder() { return *recorder_; }
  /// mean_connect_ms is the mean time from TCP connect to a usable connection (with TLS:
  /// handshake done), over the clients that got there; 0 when not measured.
  virtual double mean_connect_ms() const { return 0; }

 protected:
  std::unique_ptr<Recorder> recorder_;
};

/// fds_per_client is how many file descriptors one client of `transport` needs in the
/// process it runs in: 3 for mqtt-mosquitto (libmosquitto keeps a socketpair per client
/// besides its socket; see make_mqtt_process_clients for more than one process can hold).
std::size_t fds_per_client(std::string_view transport);

/// make_client_set creates the clients of `transport` for `n` connections to `endpoint`:
/// tcp, ws, sse, longpoll and mqtt on the bench's own epoll loop (one client code path for
/// all, so that what differs is the server and the protocol), ws-lws on tickcast::wsclient
/// (libwebsockets), mqtt-mosquitto on libmosquitto. Throws std::invalid_argument for other
/// names.
std::unique_ptr<ClientSet> make_client_set(std::string_view transport, const Endpoint& endpoint,
                                           std::size_t n);

}  // namespace tickcast::bench
