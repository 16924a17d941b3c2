#pragma once
// The clients that read a plain TCP byte stream in the bench's own epoll loop: tcp (the
// floor), ws, sse, longpoll, socketio and mqtt. This base opens the sockets at a bounded
// pace and moves bytes; each transport parses them in on_bytes().

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "client_set.h"
#include "event_loop.h"
#include "http_response.h"
#include "sse/sse_parser.h"
#include "tls_client.h"

namespace tickcast::bench {

/// StreamClients runs N socket clients on endpoint.client_loops EventLoop threads, client i
/// on loop i % loops.
/// Threads: ClientSet members from the runner's thread; a client's work on its loop's thread;
/// the connect pacing (next_, in_flight_) under pacing_mutex_ from any loop.
class StreamClients : public ClientSet {
 public:
  StreamClients(Endpoint endpoint, std::size_t n);
  ~StreamClients() override;

  void start(std::size_t n, std::size_t in_flight) override;
  std::size_t failed() const override { return failed_.load(); }
  std::string first_error() const override;
  double mean_connect_ms() const override;
  std::optional<std::uint64_t> reader_sleeps() const override;

 protected:
  /// Conn is one client connection and whatever its protocol needs to parse.
  struct Conn final : EventLoop::Watcher {
    StreamClients* owner = nullptr;
    std::size_t index = 0;
    EventLoop* loop = nullptr;  ///< the loop this client lives on
    int fd = -1;
    std::uint32_t watching = 0;  ///< the epoll events asked for fd
    bool connecting = false;
    bool ready = false;  ///< has had its first message
    bool failed = false;
    std::string in, out;  ///< bytes read but not parsed / not yet written
    HttpResponseReader http;
    std::string body;         ///< de-chunked HTTP body not yet parsed
    support::SseParser sse;   ///< SSE: the event being read
    std::string data;         ///< ws: the message being read (continuation frames)
    std::uint64_t since = 0;  ///< longpoll: the `next` to ask after
    bool have_since = false;
    bool upgraded = false;  ///< ws: the HTTP upgrade is done
    SslPtr ssl;             ///< with TLS
    bool handshaking = false;
    std::int64_t connect_started_us = 0;
    void on_ready(std::uint32_t events) override { owner->on_ready(*this, events); }
  };

  /// greeting returns the bytes to send once connected (an HTTP request, or nothing).
  virtual std::string greeting(Conn& conn) = 0;
  /// on_bytes parses conn.in; calls deliver() per message; false closes the client.
  virtual bool on_bytes(Conn& conn, std::int64_t received_us, std::string& error) = 0;
  /// reopen_on_close: a server close of a ready client is normal (long-poll keep-alive
  /// end); reconnect it instead of counting a failure.
  virtual bool reopen_on_close() const { return false; }
  /// on_round_end runs on loop `loop` (its index) after each round of it, once start() ran.
  virtual void on_round_end(std::size_t loop) { (void)loop; }

  /// stop ends the loop thread; every final class calls it in its destructor, so that
  /// no virtual hook runs while the derived part is being destroyed. Idempotent.
  void stop() {
    for (auto& loop : loops_) loop->stop();
  }

  /// deliver hands one message to the recorder and paces the connects.
  void deliver(Conn& conn, std::string_view json, std::int64_t received_us);
  /// mark_ready counts the client as connected without a message (mqtt: its SUBACK).
  void mark_ready(Conn& conn);
  /// queue_write appends bytes to the client's output and writes what the socket takes.
  void queue_write(Conn& conn, std::string_view bytes);

  /// post_to_first runs `task` on the loop of client 0 (the one that sends commands).
  void post_to_first(std::function<void()> task) { loops_.front()->post(std::move(task)); }

  Endpoint endpoint_;
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::vector<std::unique_ptr<Conn>> conns_;  // never shrinks while the loops run

 private:
  void on_ready(Conn& conn, std::uint32_t events);
  void open(Conn& conn);
  void fail(Conn& conn, const std::string& why);
  void close_fd(Conn& conn);
  void flush(Conn& conn);
  void watch(Conn& conn, std::uint32_t events);
  void launch();
  void paced_ready(Conn& conn);
  void connected(Conn& conn);
  void handshake(Conn& conn);
  ssize_t read_some(Conn& conn, char* buffer, std::size_t size);

  std::atomic<bool> started_{false};  // on_round_end runs from then on
  std::mutex pacing_mutex_;
  std::size_t next_ = 0, target_ = 0, in_flight_limit_ = 0, in_flight_ = 0;
  std::atomic<std::size_t> failed_{0};
  mutable std::mutex error_mutex_;
  std::string first_error_;
  std::atomic<std::int64_t> connect_us_total_{0};
  std::atomic<std::size_t> connect_count_{0};
};

/// make_tcp_clients, make_sse_clients, make_longpoll_clients and make_mqtt_raw_clients
/// create the stream clients.
std::unique_ptr<ClientSet> make_tcp_clients(const Endpoint& endpoint, std::size_t n);
std::unique_ptr<ClientSet> make_sse_clients(const Endpoint& endpoint, std::size_t n);
std::unique_ptr<ClientSet> make_longpoll_clients(const Endpoint& endpoint, std::size_t n);
std::unique_ptr<ClientSet> make_mqtt_raw_clients(const Endpoint& endpoint, std::size_t n);

}  // namespace tickcast::bench
