// tickcast-client: join a room over ws, sse, longpoll or mqtt, print each event as one
// line, and send the commands typed on stdin (or given once with --command).
//
// The main thread owns the terminal side: it polls stdin, a signalfd for SIGINT/SIGTERM,
// and a wake-up pipe the transports' threads write to when something ends the session.
#include <fcntl.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <mutex>

#include "format.h"
#include "tickcast/client/ws_client.h"
#include "tickcast/core/protocol.h"
#include "transport.h"

namespace {

using namespace tickcast::client;

// Session prints what the server sends and decides when --once is satisfied.
// Threads: Events calls come from transport threads; the rest from main.
class Session final : public Events {
 public:
  Session(bool json, bool once, int wake_fd) : json_(json), once_(once), wake_fd_(wake_fd) {}

  void expect_reply(std::string type, std::string request_id) {
    std::lock_guard lock(mu_);
    awaited_type_ = std::move(type);
    awaited_id_ = std::move(request_id);
  }

  void on_message(std::string json, bool stored) override {
    std::lock_guard lock(mu_);
    if (outcome_) return;  // --once is satisfied: nothing more is printed
    std::cout << (json_ ? json : format_event(json)) << std::endl;
    std::string code, request_id;
    const bool error = is_error_reply(json, &code, &request_id);
    if (!error) first_event_ = true;
    if (once_ && !outcome_) {
      if (command_pending_ || stored) {
        // not a reply: it came before the command went out, or is a stored copy
      } else if (awaited_type_.empty()) {
        if (!error) outcome_ = 0;
      } else if (error && (request_id.empty() || request_id == awaited_id_)) {
        outcome_ = 1;
      } else if (!error && (awaited_type_ == "raw" || event_reason(json) == awaited_type_)) {
        outcome_ = 0;
      }
    }
    wake();
  }

  void on_notice(std::string text) override {
    std::lock_guard lock(mu_);
    std::cerr << "tickcast-client: " << text << std::endl;
  }

  void on_fatal(std::string text) override {
    std::lock_guard lock(mu_);
    std::cerr << "tickcast-client: " << text << std::endl;
    fatal_ = true;
    wake();
  }

  void set_command_pending(bool pending) {
    std::lock_guard lock(mu_);
    command_pending_ = pending;
  }
  bool first_event() {
    std::lock_guard lock(mu_);
    return first_event_;
  }
  bool fatal() {
    std::lock_guard lock(mu_);
    return fatal_;
  }
  std::optional<int> outcome() {
    std::lock_guard lock(mu_);
    return outcome_;
  }

 private:
  void wake() {
    const char byte = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &byte, 1);
  }

  std::mutex mu_;
  const bool json_;
  const bool once_;
  const int wake_fd_;
  bool first_event_ = false;
  bool fatal_ = false;
  bool command_pending_ = false;
  std::string awaited_type_;
  std::string awaited_id_;
  std::optional<int> outcome_;
};

bool parse_broker(const std::string& url, Endpoint& endpoint) {
  constexpr std::string_view kScheme = "mqtt://";
  std::string_view rest = url;
  if (rest.substr(0, kScheme.size()) == kScheme) rest.remove_prefix(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  const auto colon = rest.rfind(':');
  endpoint.mqtt_host = std::string(rest.substr(0, colon));
  if (colon != std::string_view::npos) {
    try {
      endpoint.mqtt_port = std::stoi(std::string(rest.substr(colon + 1)));
    } catch (const std::exception&) {
      return false;
    }
  }
  return !endpoint.mqtt_host.empty() && endpoint.mqtt_port > 0 && endpoint.mqtt_port < 65536;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "tickcast-client: join a tickcast room and print its events, one line each.\n"
      "Type commands on stdin, one per line: start, stop, reset, skip,\n"
      "configure work_ms=60000 short_break_ms=... long_break_ms=... cycles=N,\n"
      "or a raw JSON command. End of input stops reading commands, not printing.\n"
      "Exit status: 0 on Ctrl-C / SIGTERM or a --once success, 1 when the server is\n"
      "unreachable, the connection is lost, or the --once reply is an error."};
  std::string transport = "ws";
  Endpoint endpoint;
  bool json = false;
  bool once = false;
  std::string command;
  std::string broker;
  double timeout_s = 0;
  app.add_option("--transport", transport, "ws, sse, longpoll or mqtt")
      ->check(CLI::IsMember({"ws", "sse", "longpoll", "mqtt"}))
      ->capture_default_str();
  app.add_option("--host", endpoint.host, "server address")->capture_default_str();
  app.add_option("--port", endpoint.port, "server port")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("--room", endpoint.room, "room name, [A-Za-z0-9_-]{1,64}")->capture_default_str();
  app.add_flag("--json", json, "print each message as the server's raw JSON");
  app.add_option("--command", command,
                 "send this command once joined (start, stop, reset, skip, "
                 "'configure work_ms=60000')");
  app.add_flag("--once", once,
               "exit after the reply to --command (its event, or an error: status 1); "
               "without --command, after the first event");
  app.add_option("--timeout", timeout_s, "give up after this many seconds (status 1); 0 = never")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--mqtt-broker", broker, "mqtt://host:port of the broker (default: --host:1883)");
  app.add_option("--origin", endpoint.origin, "Origin header for ws (default: none)");
  CLI11_PARSE(app, argc, argv);

  if (!tickcast::valid_room_name(endpoint.room)) {
    std::cerr << "tickcast-client: bad room name '" << endpoint.room
              << "' (expected [A-Za-z0-9_-]{1,64})\n";
    return 2;
  }
  endpoint.mqtt_host = endpoint.host;
  if (!broker.empty() && !parse_broker(broker, endpoint)) {
    std::cerr << "tickcast-client: bad --mqtt-broker '" << broker
              << "' (expected mqtt://host:port)\n";
    return 2;
  }
  std::optional<ParsedCommand> initial;
  if (!command.empty()) {
    initial = parse_command(command, "c0");
    if (!initial->json) {
      std::cerr << "tickcast-client: --command: " << initial->error << "\n";
      return 2;
    }
  }

  // Signals arrive on a signalfd; block them before any thread starts so none takes them.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  const int signal_fd = ::signalfd(-1, &signals, SFD_CLOEXEC);
  std::array<int, 2> wake{};
  if (signal_fd < 0 || ::pipe2(wake.data(), O_CLOEXEC | O_NONBLOCK) != 0) {
    std::perror("tickcast-client");
    return 1;
  }

  WsClientPool::set_library_log_mask(0);  // failures are reported in our own words
  Session session(json, once, wake[1]);
  if (initial) {
    session.expect_reply(initial->type, "c0");
    session.set_command_pending(true);
  } else if (once) {
    session.expect_reply("", "");
  }

  std::unique_ptr<ClientTransport> client;
  if (transport == "ws") client = make_ws_transport(endpoint, session);
  if (transport == "sse") client = make_sse_transport(endpoint, session);
  if (transport == "longpoll") client = make_longpoll_transport(endpoint, session);
  if (transport == "mqtt") client = make_mqtt_transport(endpoint, session);
  if (auto error = client->start()) {
    std::cerr << "tickcast-client: cannot connect to " << client->url() << ": " << *error << "\n";
    client->stop();
    return 1;
  }

  const auto deadline =
      timeout_s > 0 ? std::optional(std::chrono::steady_clock::now() +
                                    std::chrono::milliseconds(static_cast<long>(timeout_s * 1000)))
                    : std::nullopt;
  bool stdin_open = true;
  bool command_sent = !initial.has_value();
  std::string pending_input;
  int next_id = 1;
  int status = 0;
  for (;;) {
    // The initial command goes out once the join is confirmed by a first event (mqtt:
    // by the subscription acknowledgement in start()), so its own event is not missed.
    if (!command_sent && (session.first_event() || !client->sends_snapshot_on_join())) {
      session.set_command_pending(false);  // before: a REST reply arrives inside send()
      client->send(*initial->json);
      command_sent = true;
    }
    if (session.fatal()) {
      status = 1;
      break;
    }
    if (auto outcome = session.outcome()) {
      status = *outcome;
      break;
    }
    int timeout_ms = -1;
    if (deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        std::cerr << "tickcast-client: timed out after " << timeout_s << " s\n";
        status = 1;
        break;
      }
      timeout_ms = static_cast<int>(left.count()) + 1;
    }
    std::array<pollfd, 3> fds{{{wake[0], POLLIN, 0}, {signal_fd, POLLIN, 0}, {0, POLLIN, 0}}};
    const nfds_t nfds = stdin_open ? 3 : 2;
    if (::poll(fds.data(), nfds, timeout_ms) < 0) {
      if (errno == EINTR) continue;
      std::perror("tickcast-client: poll");
      status = 1;
      break;
    }
    if (fds[0].revents & POLLIN) {
      char drain[64];
      while (::read(wake[0], drain, sizeof drain) > 0) {
      }
    }
    if (fds[1].revents & POLLIN) break;  // SIGINT / SIGTERM: clean exit, status 0
    if (stdin_open && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      char buf[4096];
      const auto n = ::read(0, buf, sizeof buf);
      if (n <= 0) {
        stdin_open = false;
        continue;
      }
      pending_input.append(buf, static_cast<std::size_t>(n));
      std::size_t nl;
      while ((nl = pending_input.find('\n')) != std::string::npos) {
        const std::string line = pending_input.substr(0, nl);
        pending_input.erase(0, nl + 1);
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        auto parsed = parse_command(line, "c" + std::to_string(next_id++));
        if (!parsed.json) {
          session.on_notice(parsed.error);
          continue;
        }
        client->send(*parsed.json);
      }
    }
  }
  client->stop();
  return status;
}
