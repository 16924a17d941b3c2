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
#include <iostream>
#include <string>
#include <thread>

#include "tickcast/core/httplib_rest.h"
#include "tickcast/core/hub.h"
#include "tickcast/httplib/httplib_transport.h"
#include "tickcast/transport/stop_signals.h"

int main(int argc, char** argv) {
  tickcast::StopSignals stop;  // first: before any thread starts
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
  tickcast::mount_rest(server, rest);  // the contract's REST routes
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

  stop.wait();
  transport.stop();  // before server.stop(): ends the streams that hold workers
  server.stop();
  listener.join();
  hub.stop();
}
