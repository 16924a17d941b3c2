// SSE and long-poll clients over plain sockets: an HTTP/1.1 GET, then either an
// event-stream read line by line, or one response after another on a keep-alive
// connection, each request asking for the events after the last `next`.
#include <utility>
#include <vector>

#include "event_scan.h"
#include "http_request.h"
#include "stream_clients.h"

namespace tickcast::bench {

namespace {

std::string get_request(const Endpoint& endpoint, const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: " + endpoint.host + ":" +
         std::to_string(endpoint.port) + "\r\nAccept: */*\r\n\r\n";
}

// Commands for the HTTP transports go through REST, as a browser client would send them.
bool rest_command(const Endpoint& endpoint, std::string_view json) {
  const auto result = http_request(endpoint.host, endpoint.port, "POST",
                                   "/api/rooms/" + endpoint.room + "/commands", json,
                                   std::chrono::seconds(5), endpoint.tls);
  return result.error.empty() && result.status != 0;
}

class SseClients final : public StreamClients {
 public:
  using StreamClients::StreamClients;
  ~SseClients() override { stop(); }
  bool send_command(std::string_view json) override { return rest_command(endpoint_, json); }

 protected:
  std::string greeting(Conn&) override {
    return get_request(endpoint_, "/sse/rooms/" + endpoint_.room);
  }

  bool on_bytes(Conn& conn, std::int64_t received_us, std::string& error) override {
    const auto r = conn.http.feed(conn.in, conn.body);
    if (r == HttpResponseReader::Result::error) {
      error = conn.http.error();
      return false;
    }
    if (conn.http.status() != 0 && conn.http.status() != 200) {
      error = "HTTP status " + std::to_string(conn.http.status());
      return false;
    }
    if (r == HttpResponseReader::Result::complete) {
      error = "the event stream ended";
      return false;
    }
    conn.sse.feed(conn.body, [&](const support::SseBlock& event) {
      if (!event.data.empty()) deliver(conn, event.data, received_us);
    });
    return true;
  }
};

class LongPollClients final : public StreamClients {
 public:
  LongPollClients(Endpoint endpoint, std::size_t n)
      : StreamClients(std::move(endpoint), n), next_polls_(loops_.size()) {}
  ~LongPollClients() override { stop(); }
  bool send_command(std::string_view json) override { return rest_command(endpoint_, json); }

 protected:
  std::string greeting(Conn& conn) override { return request(conn); }
  bool reopen_on_close() const override { return true; }

  bool on_bytes(Conn& conn, std::int64_t received_us, std::string& error) override {
    for (;;) {
      const auto r = conn.http.feed(conn.in, conn.body);
      if (r == HttpResponseReader::Result::error) {
        error = conn.http.error();
        return false;
      }
      if (r == HttpResponseReader::Result::more) return true;
      if (conn.http.status() != 200) {
        error =
            "HTTP status " + std::to_string(conn.http.status()) + ": " + conn.body.substr(0, 200);
        return false;
      }
      const auto poll = scan_poll_body(conn.body);
      if (!poll) {
        error = "not a long-poll body: " + conn.body.substr(0, 200);
        return false;
      }
      for (std::string_view event : poll->events) deliver(conn, event, received_us);
      if (poll->next) {
        conn.since = *poll->next;
        conn.have_since = true;
      }
      conn.body.clear();
      if (!conn.http.keep_alive()) return true;  // the close reopens it
      if (endpoint_.client_poll_us > 0) {
        NextPolls& next = next_polls_[conn.index % next_polls_.size()];
        next.waiting.emplace_back(&conn, conn.connect_started_us);
        next.answered = true;
      } else {
        queue_write(conn, request(conn));
      }
      if (conn.in.empty()) return true;
    }
  }

  void on_round_end(std::size_t loop) override {
    NextPolls& next = next_polls_[loop];
    if (std::exchange(next.answered, false)) return;  // answers are still coming in
    for (const auto& [conn, connection] : std::exchange(next.waiting, {})) {
      // Not if it has been reopened since: the reopened connection polls by itself.
      if (conn->fd >= 0 && conn->connect_started_us == connection) {
        queue_write(*conn, request(*conn));
      }
    }
  }

 private:
  std::string request(const Conn& conn) const {
    std::string path = "/poll/rooms/" + endpoint_.room + "?timeout_ms=25000";
    if (conn.have_since) path += "&since=" + std::to_string(conn.since);
    return get_request(endpoint_, path);
  }

  // With a polling reader (--client-poll-us), a client sends its next poll once its loop
  // has a round that reads no answer (~1 ms after a tick's last): one CPU plays every
  // client, and writing 10,000 next polls between the reads of a tick's answers made the
  // bench read the last of them 1.4-2x later than the server had written them
  // (docs/benchmarks.md, "Long-poll answered in the fan-out pass"). A real client has a
  // CPU of its own.
  struct NextPolls {
    std::vector<std::pair<Conn*, std::int64_t>> waiting;  // and the connection's start
    bool answered = false;                                // this round read an answer
  };
  std::vector<NextPolls> next_polls_;  // per loop; each on its own loop's thread
};

}  // namespace

std::unique_ptr<ClientSet> make_sse_clients(const Endpoint& endpoint, std::size_t n) {
  return std::make_unique<SseClients>(endpoint, n);
}

std::unique_ptr<ClientSet> make_longpoll_clients(const Endpoint& endpoint, std::size_t n) {
  return std::make_unique<LongPollClients>(endpoint, n);
}

}  // namespace tickcast::bench
