// embed-httplib: the Pomodoro Hub served by an app's own cpp-httplib server through
// tickcast::httplib (SSE, long-poll, REST), one worker thread per open stream. The
// thread-per-stream counterpart of `tickcast-server --transport sse,longpoll`, for comparing
// the two I/O models (tickcast-bench's `sse-httplib` row).
//
//   embed-httplib --port 8080 --threads 1100 --max-clients 1000 --tick-ms 1000
//   curl -N http://127.0.0.1:8080/sse/rooms/focus
//   curl -d '{"type":"start"}' http://127.0.0.1:8080/api/rooms/focus/commands
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <future>
#include <iostream>
#include <string>
#include <thread>

#include "tickcast/core/hub.h"
#include "tickcast/core/rest.h"
#include "tickcast/httplib/httplib_transport.h"

// rest_route adapts core's RestApi (the one REST implementation) to a blocking cpp-httplib
// handler: the worker waits for the Hub's answer, 5 s at most.
template <class Call>
auto rest_route(Call call) {
  return [call](const httplib::Request& request, httplib::Response& response) {
    auto promise = std::make_shared<std::promise<tickcast::RestAnswer>>();
    auto future = promise->get_future();
    call(request,
         [promise](tickcast::RestAnswer answer) { promise->set_value(std::move(answer)); });
    tickcast::RestAnswer answer =
        future.wait_for(std::chrono::seconds(5)) == std::future_status::ready
            ? future.get()
            : tickcast::RestApi::error(
                  {tickcast::ErrorCode::overloaded, "the hub did not answer in time"});
    response.status = answer.status;
    for (const auto& [name, value] : answer.headers) response.set_header(name, value);
    response.set_content(answer.body, "application/json");
  };
}

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 8080;
  size_t threads = 64;
  size_t max_clients = 56;
  long long tick_ms = 1000;
  CLI::App app("embed-httplib");
  app.add_option("--host", host);
  app.add_option("--port", port);
  app.add_option("--threads", threads, "worker threads (one per open stream, plus REST)");
  app.add_option("--max-clients", max_clients);
  app.add_option("--tick-ms", tick_ms);
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGINT, SIG_DFL);  // a non-interactive shell starts background jobs ignoring it
  sigset_t signals;              // taken by sigwait below; blocked before any thread starts
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  tickcast::SystemClock clock;
  tickcast::HubOptions hub_options;
  hub_options.tick = tickcast::Millis(tick_ms);
  tickcast::Hub hub(hub_options, clock);

  // Every open stream holds a worker: the pool is sized for max-clients plus REST.
  httplib::Server server;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };  // httplib's API
  tickcast::httplib::HttplibOptions options;
  options.max_clients = max_clients;
  options.failure_body = [](const tickcast::Failure& failure, std::string_view request) {
    return tickcast::encode_failure(failure, request);  // the contract's error event
  };
  tickcast::httplib::HttplibTransport transport(server, options);
  tickcast::httplib::require_host(server, options.failure_body);  // on every route of the app
  tickcast::RestApi rest(hub);
  server.Post(R"(/api/rooms/([^/]*)/commands)", rest_route([&rest](const auto& request, auto done) {
                rest.command(request.matches[1], request.body, request.remote_addr, done);
              }));
  server.Get(R"(/api/rooms/([^/]*))", rest_route([&rest](const auto& request, auto done) {
               rest.snapshot(request.matches[1], request.remote_addr, done);
             }));
  server.Get("/api/rooms", rest_route([&rest](const auto&, auto done) { rest.rooms(done); }));
  server.Get("/healthz", [&transport](const httplib::Request&, httplib::Response& response) {
    const bool ok = transport.stats().accepting;
    response.status = ok ? 200 : 503;
    response.set_content(ok ? R"({"status":"ok"})" : R"({"status":"starting"})",
                         "application/json");
  });

  if (!server.bind_to_port(host, port)) {
    return std::cerr << "embed-httplib: cannot listen on port " << port << '\n', 1;
  }
  hub.add_transport(transport);
  hub.start();
  transport.start(hub);
  std::thread listener([&server] { server.listen_after_bind(); });
  std::cout << "embed-httplib: http://" << host << ':' << port << " (sse-httplib)" << std::endl;

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  transport.stop();  // before server.stop(): ends the streams that hold workers
  server.stop();
  listener.join();
  hub.stop();
}
